! Every call of the Fortran binding, with its results and errors checked.
! Any failed check prints what failed and stops with a non-zero status.
module ftest_tasks
  use, intrinsic :: iso_c_binding
  use relay
  implicit none

  type :: counter
    integer(c_int64_t) :: total = 0
  end type

  interface
    integer(c_int) function ftest_mpi_init() bind(C)
      import :: c_int
    end function
    integer(c_int) function ftest_reversed_comm() bind(C)
      import :: c_int
    end function
    integer(c_int) function ftest_world_rank() bind(C)
      import :: c_int
    end function
    integer(c_int) function ftest_mpi_finalize() bind(C)
      import :: c_int
    end function
  end interface

contains

  subroutine check(cond, what)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: what
    if (cond) return
    write (*, '(a,a)') 'FAILED: ', what
    write (*, '(a,a)') '  last error: ', relay_last_error()
    flush (6)
    error stop 1
  end subroutine

  subroutine check_rc(rc, expected, what)
    integer(c_int), intent(in) :: rc, expected
    character(len=*), intent(in) :: what
    if (rc == expected) return
    write (*, '(a,a,a,a,a,a)') 'FAILED: ', what, ': got ', relay_status_name(rc), &
      ', expected ', relay_status_name(expected)
    write (*, '(a,a)') '  last error: ', relay_last_error()
    flush (6)
    error stop 1
  end subroutine

  ! axpy(a: real(8) value, x: real(8) array as a ref, y: real(8) array
  ! value) -> (a*x + y as a typed array, sum of it as plain bytes)
  integer(c_int) function axpy(ctx) bind(C)
    type(c_ptr), value :: ctx
    real(c_double) :: a, s
    real(c_double), allocatable :: x(:, :), y(:, :)
    type(relay_object_t) :: obj
    type(relay_ref_t) :: xref
    integer :: dtype, ndims
    integer(c_int64_t) :: dims(RELAY_MAX_DIMS), n
    axpy = 1
    if (relay_ctx_num_args(ctx) /= 3 .or. relay_ctx_num_returns(ctx) /= 2) return
    if (relay_ctx_arg(ctx, 1, a) /= RELAY_OK) return
    ! x's shape from its view; a value argument has no ref.
    if (relay_ctx_arg_object(ctx, 2, obj) /= RELAY_OK) return
    if (relay_object_array(obj, dtype, ndims, dims) /= RELAY_OK) return
    if (dtype /= RELAY_FLOAT64 .or. ndims /= 2) return
    if (relay_ctx_arg_ref(ctx, 2, xref) /= RELAY_OK) return
    if (relay_ctx_arg_ref(ctx, 3, xref) /= RELAY_ERR_INVALID_ARG) return
    if (relay_ctx_arg_size(ctx, 3, n) /= RELAY_OK) return
    allocate (x(dims(1), dims(2)), y(dims(1), dims(2)))
    if (n /= 8*size(y)) return
    if (relay_ctx_arg(ctx, 2, x) /= RELAY_OK) return
    if (relay_ctx_arg(ctx, 3, y) /= RELAY_OK) return
    y = a*x + y
    s = sum(y)
    if (relay_ctx_return_array(ctx, 1, y) /= RELAY_OK) return
    if (relay_ctx_return(ctx, 2, s) /= RELAY_OK) return
    axpy = 0
  end function

  ! square(i: integer(8)) -> i*i
  ! Returns 1 after about a second (busy: no sleep in standard Fortran).
  integer(c_int) function slow(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int64_t) :: t0, t, rate, one = 1
    call system_clock(t0, rate)
    do
      call system_clock(t)
      if (t - t0 >= rate) exit
    end do
    slow = relay_ctx_return(ctx, 1, one)
  end function

  integer(c_int) function square(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int64_t) :: i
    square = 1
    if (relay_ctx_arg(ctx, 1, i) /= RELAY_OK) return
    i = i*i
    if (relay_ctx_return(ctx, 1, i) /= RELAY_OK) return
    square = 0
  end function

  ! sum_squares(n: integer(8)) -> sum of square(1..n), submitted from here.
  integer(c_int) function sum_squares(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int64_t) :: n, i, v, total
    type(relay_ref_t), allocatable :: refs(:)
    integer(c_int) :: rc
    sum_squares = 1
    if (relay_ctx_arg(ctx, 1, n) /= RELAY_OK) return
    allocate (refs(n))
    do i = 1, n
      if (relay_submit('square', [relay_arg_value(i)], refs(i)) /= RELAY_OK) return
    end do
    total = 0
    do i = 1, n
      rc = relay_get(refs(i), v)
      if (rc /= RELAY_OK) then
        sum_squares = rc
        return
      end if
      total = total + v
    end do
    if (relay_release(refs) /= RELAY_OK) return
    if (relay_ctx_return(ctx, 1, total) /= RELAY_OK) return
    sum_squares = 0
  end function

  ! fail(code: integer(4)) fails with a reason naming the code.
  integer(c_int) function fail(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int) :: code
    character(len=32) :: msg
    fail = 1
    if (relay_ctx_arg(ctx, 1, code) /= RELAY_OK) return
    write (msg, '(a,i0)') 'boom ', code
    if (relay_ctx_fail(ctx, msg) /= RELAY_OK) return
  end function

  ! where() -> the rank running it and its task id
  integer(c_int) function where_task(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer :: rank
    integer(c_int64_t) :: id
    type(relay_actor_t) :: a
    where_task = 1
    if (relay_ctx_rank(ctx, rank) /= RELAY_OK) return
    if (relay_ctx_task_id(ctx, id) /= RELAY_OK) return
    if (relay_ctx_actor(ctx, a) /= RELAY_ERR_NOT_IN_TASK) return
    if (relay_ctx_cancelled(ctx)) return
    if (relay_ctx_return(ctx, 1, [int(rank, c_int64_t), id]) /= RELAY_OK) return
    where_task = 0
  end function

  ! assumed_return() -> [1, 2, 3] as real(8), after checking that relay
  ! refuses to return an assumed-size array, whose size it cannot know.
  integer(c_int) function assumed_return(ctx) bind(C)
    type(c_ptr), value :: ctx
    real(c_double) :: x(3)
    x = [1, 2, 3]
    assumed_return = return_assumed(ctx, x)
  end function

  integer(c_int) function return_assumed(ctx, x)
    type(c_ptr), intent(in) :: ctx
    real(c_double), intent(in) :: x(*)
    return_assumed = 1
    if (relay_ctx_return(ctx, 1, x) /= RELAY_ERR_INVALID_ARG) return
    if (index(relay_last_error(), 'relay_ctx_return: assumed-size array') == 0) return
    if (relay_ctx_return_array(ctx, 1, x) /= RELAY_ERR_INVALID_ARG) return
    if (index(relay_last_error(), 'relay_ctx_return_array: assumed-size array') == 0) return
    if (relay_ctx_return(ctx, 1, x(1:3)) /= RELAY_OK) return
    return_assumed = 0
  end function

  ! Every call taking the bytes of x, an assumed-size array of n elements,
  ! refuses it with INVALID_ARG: the binding's C side sees a last extent of
  ! -1. A section of it, x(1:n), is fine.
  subroutine assumed_size(x, n)
    real(c_double), intent(inout) :: x(*)
    integer, intent(in) :: n
    type(relay_ref_t) :: r
    call check_rc(relay_put(x, r), RELAY_ERR_INVALID_ARG, 'put of an assumed-size array')
    call check(index(relay_last_error(), 'relay_put: assumed-size array: its size is unknown') &
               > 0, 'the assumed-size array is named')
    call check_rc(relay_put_array(x, r), RELAY_ERR_INVALID_ARG, 'put_array of assumed-size')
    call check_rc(relay_put_object(x, [relay_ref_t ::], r), RELAY_ERR_INVALID_ARG, &
                  'put_object of assumed-size')
    call check_rc(relay_submit('square', [relay_arg_value(x)], r), RELAY_ERR_INVALID_ARG, &
                  'an assumed-size value argument')
    call check(index(relay_last_error(), 'relay_submit: argument 1: relay_arg_value: ' &
                     //'assumed-size array') > 0, 'submit names the refused argument')
    call check_rc(relay_put(x(1:n), r), RELAY_OK, 'put of a section of it')
    call check_rc(relay_get(r, x), RELAY_ERR_INVALID_ARG, 'get into assumed-size')
    call check(index(relay_last_error(), 'relay_get: assumed-size array') > 0, 'get says why')
    call check_rc(relay_get(r, x(1:n)), RELAY_OK, 'get into a section of it')
    call check_rc(relay_release(r), RELAY_OK, 'release the section')
  end subroutine

  integer(c_int) function counter_init(ctx, state) bind(C)
    type(c_ptr), value :: ctx
    type(c_ptr), intent(out) :: state
    type(counter), pointer :: c
    allocate (c)
    counter_init = relay_ctx_arg(ctx, 1, c%total)
    if (counter_init /= RELAY_OK) then
      deallocate (c)
      state = c_null_ptr
      return
    end if
    state = c_loc(c)
  end function

  integer(c_int) function counter_add(ctx, state) bind(C)
    type(c_ptr), value :: ctx, state
    type(counter), pointer :: c
    integer(c_int64_t) :: x
    call c_f_pointer(state, c)
    counter_add = relay_ctx_arg(ctx, 1, x)
    if (counter_add /= RELAY_OK) return
    c%total = c%total + x
    counter_add = relay_ctx_return(ctx, 1, c%total)
  end function

  integer(c_int) function counter_whoami(ctx, state) bind(C)
    type(c_ptr), value :: ctx, state
    type(relay_actor_t) :: me
    counter_whoami = relay_ctx_actor(ctx, me)
    if (counter_whoami /= RELAY_OK) return
    if (.not. c_associated(state)) counter_whoami = 1
    if (counter_whoami == RELAY_OK) counter_whoami = relay_ctx_return(ctx, 1, me)
  end function

  subroutine counter_fini(state) bind(C)
    type(c_ptr), value :: state
    type(counter), pointer :: c
    call c_f_pointer(state, c)
    deallocate (c)
  end subroutine
end module

program fortran_api
  use ftest_tasks
  implicit none
  integer(c_int) :: rc
  integer :: rank, nranks, world_rank, unit
  logical :: exists
  type(relay_config_t) :: cfg
  type(relay_actor_class_t) :: cls

  call check(ftest_mpi_init() == 0, 'MPI_Init_thread(MPI_THREAD_MULTIPLE)')
  world_rank = ftest_world_rank()

  call check_rc(relay_register('axpy', axpy), RELAY_OK, 'register axpy')
  call check_rc(relay_register('square', c_funloc(square)), RELAY_OK, 'register by c_funloc')
  call check_rc(relay_register('sum_squares', sum_squares), RELAY_OK, 'register')
  call check_rc(relay_register('fail', fail), RELAY_OK, 'register fail')
  call check_rc(relay_register('slow', slow), RELAY_OK, 'register slow')
  call check_rc(relay_register('where', where_task), RELAY_OK, 'register where')
  call check_rc(relay_register('assumed', assumed_return), RELAY_OK, 'register assumed')
  call check_rc(relay_register('square', axpy), RELAY_ERR_EXISTS, 'register a taken name')
  call check(index(relay_last_error(), 'square') > 0, 'EXISTS names the function')
  cls%init = c_funloc(counter_init)
  cls%init_num_args = 1
  cls%fini = c_funloc(counter_fini)
  allocate (cls%methods(2))
  cls%methods(1) = relay_method_t('add', c_funloc(counter_add), 1)
  cls%methods(2) = relay_method_t('whoami', c_funloc(counter_whoami), 0)
  call check_rc(relay_register_actor('Counter', cls), RELAY_OK, 'register_actor')
  block
    type(relay_actor_class_t) :: nameless
    allocate (nameless%methods(2))
    nameless%methods(1) = relay_method_t('add', c_funloc(counter_add), 1)
    nameless%methods(2)%fn = c_funloc(counter_add)
    call check_rc(relay_register_actor('Nameless', nameless), RELAY_ERR_INVALID_ARG, &
                  'a method without a name')
    call check(index(relay_last_error(), 'relay_register_actor: cls%methods(2)%name is not ' &
                     //'allocated') > 0, 'the nameless method is named')
  end block

  ! 1. Defaults, no config.
  call check_rc(relay_init(), RELAY_OK, 'relay_init()')
  call check_rc(relay_init(), RELAY_ERR_ALREADY_INITIALIZED, 'relay_init twice')
  call check_rc(relay_rank(rank), RELAY_OK, 'relay_rank')
  call check(rank == world_rank, 'relay_rank is the world rank without a config')
  if (rank == 0) call simple()
  call check_rc(relay_finalize(), RELAY_OK, 'relay_finalize (1)')
  call check_rc(relay_rank(rank), RELAY_ERR_NOT_INITIALIZED, 'relay_rank after finalize')

  ! A resource without a name: refused before anything collective.
  allocate (cfg%resources(1))
  cfg%field_mask = RELAY_CONFIG_RESOURCES
  call check_rc(relay_init(cfg), RELAY_ERR_INVALID_ARG, 'relay_init: a nameless resource')
  call check(index(relay_last_error(), 'relay_init: config%resources(1)%name is not ' &
                   //'allocated') > 0, 'the nameless resource is named')
  deallocate (cfg%resources)

  ! 2. A config from Fortran: the world reversed as the communicator, and
  ! a timeline written by (relay's) rank 0 at finalize.
  cfg%field_mask = ior(ior(RELAY_CONFIG_COMM, RELAY_CONFIG_LOG_LEVEL), RELAY_CONFIG_TRACE)
  cfg%comm = ftest_reversed_comm()
  cfg%log_level = 0
  cfg%trace = 'fortran-api-trace.json'
  if (world_rank == 0) then
    open (newunit=unit, file=cfg%trace, status='replace')
    close (unit, status='delete')
  end if
  call check_rc(relay_init(cfg), RELAY_OK, 'relay_init(cfg)')
  call check_rc(relay_rank(rank), RELAY_OK, 'relay_rank (2)')
  call check_rc(relay_size(nranks), RELAY_OK, 'relay_size')
  call check(rank == nranks - 1 - world_rank, 'relay_rank follows config%comm')
  if (rank == 0) then
    call arrays()
    call tasks()
    call errors()
    call actors()
    call check_rc(relay_sync(), RELAY_OK, 'relay_sync')
    block
      type(relay_stats_t) :: st
      call check_rc(relay_stats(st), RELAY_OK, 'relay_stats')
      call check(st%held_refs == 0, 'every ref released')
      call check(st%tasks_submitted > 0, 'stats count submitted tasks')
    end block
  end if
  call check_rc(relay_finalize(), RELAY_OK, 'relay_finalize (2)')
  if (rank == 0) then
    inquire (file=cfg%trace, exist=exists)
    call check(exists, 'config%trace: the timeline was written')
  end if
  call check(ftest_mpi_finalize() == 0, 'MPI_Finalize')
  if (world_rank == 0) write (*, '(a)') 'fortran api: all checks passed'

contains

  subroutine simple()
    integer(c_int64_t) :: v
    type(relay_ref_t) :: r
    call check_rc(relay_submit('square', [relay_arg_value(7_c_int64_t)], r), RELAY_OK, &
                  'submit square')
    call check_rc(relay_get(r, v), RELAY_OK, 'get square')
    call check(v == 49, 'square(7) = 49')
    call check_rc(relay_release(r), RELAY_OK, 'release')
  end subroutine

  ! Typed arrays of several kinds and ranks survive put/get, keep their
  ! shape (Fortran order) and their element type.
  subroutine arrays()
    real(c_double) :: d(3, 4), d2(3, 4)
    real(c_float) :: f(5), f2(5)
    integer(c_int32_t) :: i4(2, 3, 2), i42(2, 3, 2)
    integer(c_int64_t) :: i8(6), i82(6)
    complex(c_double_complex) :: z(2, 3), z2(2, 3)
    real(c_double) :: s(4), s2(4)
    character(len=5) :: str, str2
    type(relay_ref_t) :: r(7)
    type(relay_object_t) :: obj
    integer :: dtype, ndims, k
    integer(c_int64_t) :: dims(RELAY_MAX_DIMS)

    d = reshape([(real(k, c_double)*0.5_c_double, k=1, 12)], [3, 4])
    f = [(real(k, c_float), k=1, 5)]
    i4 = reshape([(k, k=1, 12)], [2, 3, 2])
    i8 = [(huge(0_c_int64_t) - k, k=1, 6)]
    z = reshape([(cmplx(k, -k, c_double_complex), k=1, 6)], [2, 3])
    s = [1, 2, 3, 4]
    str = 'hello'
    call check_rc(relay_put_array(d, r(1)), RELAY_OK, 'put_array real(8) 2-D')
    call check_rc(relay_put_array(f, r(2)), RELAY_OK, 'put_array real(4)')
    call check_rc(relay_put_array(i4, r(3)), RELAY_OK, 'put_array integer(4) 3-D')
    call check_rc(relay_put_array(i8, r(4)), RELAY_OK, 'put_array integer(8)')
    call check_rc(relay_put_array(z, r(5)), RELAY_OK, 'put_array complex(8)')
    call check_rc(relay_put(d(2, :), r(6)), RELAY_OK, 'put of a non-contiguous section')
    call check_rc(relay_put(str, r(7)), RELAY_OK, 'put of a character string')

    call check_rc(relay_get(r(1), d2), RELAY_OK, 'get real(8)')
    call check(all(d2 == d), 'real(8) round trip')
    call check_rc(relay_get(r(2), f2, 5.0_c_double), RELAY_OK, 'get real(4)')
    call check(all(f2 == f), 'real(4) round trip')
    call check_rc(relay_get(r(3), i42), RELAY_OK, 'get integer(4)')
    call check(all(i42 == i4), 'integer(4) round trip')
    call check_rc(relay_get(r(4), i82), RELAY_OK, 'get integer(8)')
    call check(all(i82 == i8), 'integer(8) round trip')
    call check_rc(relay_get(r(5), z2), RELAY_OK, 'get complex(8)')
    call check(all(z2 == z), 'complex(8) round trip')
    call check_rc(relay_get(r(6), s2), RELAY_OK, 'get of the section')
    call check(all(s2 == d(2, :)), 'section round trip')
    call check_rc(relay_get(r(7), str2), RELAY_OK, 'get string')
    call check(str2 == 'hello', 'string round trip')
    ! Into a non-contiguous section too.
    d2 = 0
    call check_rc(relay_get(r(6), d2(3, :)), RELAY_OK, 'get into a section')
    call check(all(d2(3, :) == d(2, :)) .and. all(d2(1:2, :) == 0), 'get into a section')

    call check_rc(relay_get_object(r(1), obj), RELAY_OK, 'get_object')
    call check_rc(relay_object_array(obj, dtype, ndims, dims), RELAY_OK, 'object_array')
    call check(dtype == RELAY_FLOAT64 .and. ndims == 2 .and. all(dims(1:2) == [3, 4]), &
               'real(8) (3,4): float64 of Fortran shape (3,4)')
    call check(relay_object_size(obj) == 96, 'object_size')
    call check(relay_object_num_refs(obj) == 0, 'object_num_refs')
    call check_rc(relay_object_status(obj), RELAY_OK, 'object_status')
    call check(relay_object_error(obj) == '', 'no error on a good view')
    d2 = 0
    call check_rc(relay_object_copy(obj, d2), RELAY_OK, 'object_copy')
    call check(all(d2 == d), 'object_copy copies')
    call check_rc(relay_object_free(obj), RELAY_OK, 'object_free')
    call check_rc(relay_get_object(r(5), obj), RELAY_OK, 'get_object complex')
    call check_rc(relay_object_array(obj, dtype, ndims, dims), RELAY_OK, 'object_array z')
    call check(dtype == RELAY_FLOAT64 .and. ndims == 3 .and. all(dims(1:3) == [2, 2, 3]), &
               'complex(8) (2,3): float64 of Fortran shape (2,2,3)')
    call check_rc(relay_object_free(obj), RELAY_OK, 'object_free z')
    call check_rc(relay_get_object(r(3), obj), RELAY_OK, 'get_object i4')
    call check_rc(relay_object_array(obj, dtype, ndims, dims), RELAY_OK, 'object_array i4')
    call check(dtype == RELAY_INT32 .and. ndims == 3 .and. all(dims(1:3) == [2, 3, 2]), &
               'integer(4) (2,3,2)')
    call check_rc(relay_object_free(obj), RELAY_OK, 'object_free i4')
    call check(relay_dtype_size(RELAY_FLOAT32) == 4, 'dtype_size')

    ! Errors: wrong size, wrong element type, a type with no dtype.
    call check_rc(relay_get(r(1), d2(:, 1:3)), RELAY_ERR_SIZE_MISMATCH, 'get into a small array')
    call check(index(relay_last_error(), '96 bytes') > 0, 'SIZE_MISMATCH says the sizes')
    call check_rc(relay_get(r(4), d2(1:3, 1:2)), RELAY_ERR_INVALID_ARG, 'int64 into real(8)')
    call check(index(relay_last_error(), 'int64') > 0 .and. &
               index(relay_last_error(), 'float64') > 0, 'the wrong type is named')
    call check_rc(relay_put_array([.true., .false.], r(1)), RELAY_ERR_INVALID_ARG, &
                  'put_array of logical')
    call check(index(relay_last_error(), 'no element type') > 0, 'logical has no dtype')
    ! A relay failure after a binding one: relay's own message again.
    call check_rc(relay_release(relay_ref_t(0)), RELAY_ERR_INVALID_REF, 'release a null ref')
    call check(index(relay_last_error(), 'no element type') == 0, 'message moves on')

    ! put_object: contained refs.
    block
      type(relay_ref_t) :: outer, inner
      call check_rc(relay_put_object(42_c_int32_t, r(1:2), outer), RELAY_OK, 'put_object')
      call check_rc(relay_get_object(outer, obj), RELAY_OK, 'get_object outer')
      call check(relay_object_num_refs(obj) == 2, 'two contained refs')
      call check_rc(relay_object_ref(obj, 2, inner), RELAY_OK, 'object_ref 2')
      call check(inner%id == r(2)%id, 'object_ref is 1-based')
      call check_rc(relay_object_ref(obj, 3, inner), RELAY_ERR_OUT_OF_RANGE, 'object_ref 3')
      call check_rc(relay_object_free(obj), RELAY_OK, 'object_free outer')
      call check_rc(relay_release(outer), RELAY_OK, 'release outer')
    end block
    call check_rc(relay_release(r), RELAY_OK, 'release_many')
  end subroutine

  subroutine tasks()
    real(c_double) :: x(2, 3), y(2, 3), out(2, 3), s, a
    type(relay_ref_t) :: xr, ret(2), sq(4), w
    integer(c_int64_t) :: v, i, info(2)
    logical :: ready(4)
    integer :: n
    type(relay_task_opts_t) :: opts

    x = reshape([1, 2, 3, 4, 5, 6], [2, 3])
    y = 10
    a = 2
    call check_rc(relay_put_array(x, xr), RELAY_OK, 'put x')
    opts%field_mask = RELAY_TASK_OPT_NAME
    opts%name = 'axpy-1'
    call check_rc(relay_submit('axpy', [relay_arg_value(a), relay_arg_ref(xr), &
                                        relay_arg_value(y)], ret, opts), RELAY_OK, 'submit axpy')
    call check_rc(relay_get(ret(1), out), RELAY_OK, 'get axpy 1')
    call check(all(out == a*x + y), 'axpy result')
    call check_rc(relay_get(ret(2), s), RELAY_OK, 'get axpy 2')
    call check(s == sum(a*x + y), 'axpy sum')
    call check_rc(relay_cancel(ret(1)), RELAY_OK, 'cancel of a finished task')
    call check_rc(relay_release([xr, ret]), RELAY_OK, 'release axpy')

    do i = 1, 4
      call check_rc(relay_submit('square', [relay_arg_value(i)], sq(i)), RELAY_OK, 'submit sq')
    end do
    call check_rc(relay_wait(sq, 4, 30.0_c_double, ready, n), RELAY_OK, 'wait')
    call check(all(ready) .and. n == 4, 'wait: all ready')
    call check_rc(relay_wait(sq, 0, ready=ready, n_ready=n), RELAY_OK, 'wait poll')
    call check(n == 4, 'poll sees all')
    block
      logical :: many(64), few(2)
      ! More flags than refs: those past the refs are .false.
      many = .true.
      call check_rc(relay_wait(sq(1:1), 1, 30.0_c_double, many, n), RELAY_OK, 'wait, 64 flags')
      call check(many(1) .and. count(many) == 1 .and. n == 1, 'wait: no flag past the refs')
      few = .false.
      call check_rc(relay_wait(sq, 4, 30.0_c_double, few, n), RELAY_OK, 'wait, 2 flags')
      call check(all(few) .and. n == 4, 'wait: the first flags, all counted')
      ! A failed wait writes neither output.
      many = .true.
      n = -1
      call check_rc(relay_wait(sq(1:2), 3, 0.0_c_double, many, n), RELAY_ERR_INVALID_ARG, &
                    'wait for more than there are')
      call check(all(many) .and. n == -1, 'a failed wait leaves ready and n_ready')
      ! A timeout gives the refs ready by then, as in C.
      block
        type(relay_ref_t) :: late
        logical :: two(2)
        call check_rc(relay_submit('slow', [relay_arg_value(0)], late), RELAY_OK, 'submit slow')
        two = .false.
        n = -1
        call check_rc(relay_wait([sq(1), late], 2, 0.1_c_double, two, n), RELAY_ERR_TIMEOUT, &
                      'wait times out')
        call check(two(1) .and. .not. two(2) .and. n == 1, 'a timed-out wait flags the ready')
        call check_rc(relay_release(late), RELAY_OK, 'release slow')
      end block
    end block
    call check_rc(relay_release(sq), RELAY_OK, 'release squares')

    call check_rc(relay_submit('sum_squares', [relay_arg_value(5_c_int64_t)], w), RELAY_OK, &
                  'submit nested')
    call check_rc(relay_get(w, v), RELAY_OK, 'get nested')
    call check(v == 55, 'sum of squares 1..5 from nested tasks')
    call check_rc(relay_release(w), RELAY_OK, 'release nested')

    call check_rc(relay_submit('where', [relay_arg_t ::], w), RELAY_OK, 'submit where')
    call check_rc(relay_get(w, info), RELAY_OK, 'get where')
    call check(info(1) >= 0 .and. info(1) < nranks, 'task rank in range')
    call check_rc(relay_release(w), RELAY_OK, 'release where')
  end subroutine

  subroutine errors()
    type(relay_ref_t) :: r
    type(relay_object_t) :: obj
    integer(c_int32_t) :: v
    real(c_double) :: big(129)
    call check(relay_strerror(RELAY_ERR_TIMEOUT) == 'timed out', 'strerror')
    call check(relay_status_name(RELAY_ERR_SIZE_MISMATCH) == 'RELAY_ERR_SIZE_MISMATCH', &
               'status_name')
    call check_rc(relay_submit('nope', [relay_arg_t ::], r), RELAY_ERR_UNKNOWN_FUNCTION, &
                  'unknown function')
    call check(index(relay_last_error(), 'nope') > 0, 'unknown function named')
    call check_rc(relay_submit('fail', [relay_arg_value(42_c_int32_t)], r), RELAY_OK, &
                  'submit fail')
    call check_rc(relay_get(r, v), RELAY_ERR_TASK_FAILED, 'get of a failed task')
    call check(index(relay_last_error(), 'boom 42') > 0, 'the reason reaches the caller')
    call check_rc(relay_get_object(r, obj), RELAY_ERR_TASK_FAILED, 'get_object failed')
    call check(index(relay_object_error(obj), 'boom 42') > 0, 'object_error')
    call check_rc(relay_object_status(obj), RELAY_ERR_TASK_FAILED, 'object_status')
    call check_rc(relay_object_copy(obj, v), RELAY_ERR_TASK_FAILED, 'copy of an error object')
    call check_rc(relay_object_free(obj), RELAY_OK, 'free error object')
    call check_rc(relay_release(r), RELAY_OK, 'release fail')
    big = 1
    call check_rc(relay_submit('square', [relay_arg_value(1_c_int64_t), relay_arg_value(big)], &
                               r), RELAY_ERR_INVALID_ARG, 'a value argument too large')
    call check(index(relay_last_error(), 'argument 2 is a value of 1032 bytes') > 0, &
               'the large argument is named')
    call check_rc(relay_submit('where', [relay_arg_t ::], r), RELAY_OK, 'submit where')
    call check_rc(relay_get(r, v), RELAY_ERR_SIZE_MISMATCH, 'get 16 bytes into 4')
    call check_rc(relay_release(r), RELAY_OK, 'release where')

    call assumed_size(big, size(big))
    call check_rc(relay_submit('assumed', [relay_arg_t ::], r), RELAY_OK, 'submit assumed')
    big(1:3) = 0
    call check_rc(relay_get(r, big(1:3)), RELAY_OK, 'ctx_return refuses assumed-size')
    call check(all(big(1:3) == [1, 2, 3]), 'then returns the section')
    call check_rc(relay_release(r), RELAY_OK, 'release assumed')

    block
      type(relay_task_opts_t) :: topts
      type(relay_actor_opts_t) :: aopts
      type(relay_actor_t) :: a
      topts%field_mask = RELAY_TASK_OPT_RESOURCES
      allocate (topts%resources(2))
      topts%resources(1) = relay_resource_t('disk', 1.0_c_double)
      call check_rc(relay_submit('square', [relay_arg_value(1_c_int64_t)], r, topts), &
                    RELAY_ERR_INVALID_ARG, 'submit: a nameless resource')
      call check(index(relay_last_error(), 'relay_submit: opts%resources(2)%name is not ' &
                       //'allocated') > 0, 'submit names the nameless resource')
      aopts%field_mask = RELAY_ACTOR_OPT_RESOURCES
      allocate (aopts%resources(1))
      call check_rc(relay_actor_create('Counter', [relay_arg_value(1_c_int64_t)], a, aopts), &
                    RELAY_ERR_INVALID_ARG, 'actor_create: a nameless resource')
      call check(index(relay_last_error(), 'relay_actor_create: opts%resources(1)%name is ' &
                       //'not allocated') > 0, 'actor_create names the nameless resource')
    end block
  end subroutine

  subroutine actors()
    type(relay_actor_t) :: c, c2, me
    type(relay_ref_t) :: r
    type(relay_actor_opts_t) :: opts
    integer(c_int64_t) :: v
    opts%field_mask = RELAY_ACTOR_OPT_NAME
    opts%name = 'counter-1'
    call check_rc(relay_actor_create('Counter', [relay_arg_value(10_c_int64_t)], c, opts), &
                  RELAY_OK, 'actor_create')
    call check_rc(relay_actor_call(c, 'add', [relay_arg_value(5_c_int64_t)], r), RELAY_OK, 'add')
    call check_rc(relay_get(r, v), RELAY_OK, 'get add')
    call check(v == 15, 'counter 10 + 5')
    call check_rc(relay_release(r), RELAY_OK, 'release add')
    call check_rc(relay_actor_lookup('counter-1', c2), RELAY_OK, 'actor_lookup')
    call check(c2%id == c%id, 'lookup finds the actor')
    call check_rc(relay_actor_call(c2, 'add', [relay_arg_value(7_c_int64_t)], r), RELAY_OK, 'add')
    call check_rc(relay_get(r, v), RELAY_OK, 'get add 2')
    call check(v == 22, 'counter 15 + 7: state kept')
    call check_rc(relay_release(r), RELAY_OK, 'release add 2')
    call check_rc(relay_actor_call(c, 'whoami', [relay_arg_t ::], r), RELAY_OK, 'whoami')
    call check_rc(relay_get(r, me), RELAY_OK, 'get whoami')
    call check(me%id == c%id .and. me%class_hash == c%class_hash, 'relay_ctx_actor')
    call check_rc(relay_release(r), RELAY_OK, 'release whoami')
    call check_rc(relay_actor_call(c, 'nope', [relay_arg_t ::], r), RELAY_ERR_UNKNOWN_FUNCTION, &
                  'unknown method')
    call check_rc(relay_actor_kill(c), RELAY_OK, 'actor_kill')
    call check_rc(relay_actor_call(c, 'add', [relay_arg_value(1_c_int64_t)], r), RELAY_OK, 'call')
    call check_rc(relay_get(r, v), RELAY_ERR_ACTOR_DEAD, 'call of a killed actor')
    call check_rc(relay_release(r), RELAY_OK, 'release dead call')
  end subroutine
end program
