! relay for Fortran 2008 (with TS 29113 assumed-rank arguments): module relay.
!
! The C API (relay.h) with Fortran conventions:
! - Every call that can fail is an integer(c_int) function returning
!   RELAY_OK or a negative RELAY_ERR_* (same values as relay.h);
!   relay_last_error() gives the detail as an allocatable string.
! - Argument and return indices inside a task are 1-based (argument 1 is
!   args(1) of the submit); ranks stay 0-based, as in MPI.
! - Any contiguous variable of any type and rank goes in and out as bytes
!   (relay_arg_value, relay_put, relay_get, relay_ctx_arg, relay_ctx_return).
!   Its size must be known: an assumed-size array x(*) is
!   RELAY_ERR_INVALID_ARG (pass a section, x(1:n)).
!   integer(1,2,4,8), real(4,8) and complex(4,8) arrays also go as typed
!   arrays (relay_put_array, relay_ctx_return_array): a Fortran array of
!   shape (n1, ..., nk) is relay's (C-ordered) array of dims (nk, ..., n1),
!   complex with a last C dimension of 2. relay_get and relay_ctx_arg check
!   the size in bytes (RELAY_ERR_SIZE_MISMATCH) and, for a typed array, the
!   element type (RELAY_ERR_INVALID_ARG).
! - Names (functions, classes, methods, resources) lose trailing blanks.
! - Outputs (refs, actors, views, counts) are written only on success, as
!   in C; relay_wait's flags and count also on RELAY_ERR_TIMEOUT, as in C.
! - Remote functions, constructors, methods and destructors are bind(C)
!   procedures with the interfaces relay_fn, relay_actor_init_fn,
!   relay_method_fn and relay_actor_fini_fn; the task context is a c_ptr.
module relay
  use, intrinsic :: iso_c_binding
  implicit none
  private

  ! ---------------------------------------------------------------- constants
  integer(c_int), parameter, public :: RELAY_VERSION_MAJOR = 0, RELAY_VERSION_MINOR = 1, &
    RELAY_VERSION_PATCH = 0

  integer(c_int), parameter, public :: &
    RELAY_OK = 0, &
    RELAY_ERR_INVALID_ARG = -1, &
    RELAY_ERR_NOT_INITIALIZED = -2, &
    RELAY_ERR_ALREADY_INITIALIZED = -3, &
    RELAY_ERR_UNKNOWN_FUNCTION = -4, &
    RELAY_ERR_EXISTS = -5, &
    RELAY_ERR_INVALID_REF = -6, &
    RELAY_ERR_TIMEOUT = -7, &
    RELAY_ERR_TASK_FAILED = -8, &
    RELAY_ERR_OUT_OF_RANGE = -9, &
    RELAY_ERR_NOT_IN_TASK = -10, &
    RELAY_ERR_NO_MEMORY = -11, &
    RELAY_ERR_MPI = -12, &
    RELAY_ERR_CONFIG = -13, &
    RELAY_ERR_SHUTDOWN = -14, &
    RELAY_ERR_SIZE_MISMATCH = -15, &
    RELAY_ERR_INTERNAL = -16, &
    RELAY_ERR_INFEASIBLE = -17, &
    RELAY_ERR_DEADLOCK = -18, &
    RELAY_ERR_ACTOR_DEAD = -19, &
    RELAY_ERR_NOT_FOUND = -20, &
    RELAY_ERR_CORRUPT = -21, &
    RELAY_ERR_IO = -22, &
    RELAY_ERR_CANCELLED = -23, &
    RELAY_ERR_RANK_LOST = -24, &
    RELAY_ERR_WRONG_THREAD = -25, &
    RELAY_ERR_TRUNCATED = -26

  real(c_double), parameter, public :: RELAY_FOREVER = -1.0_c_double

  integer(c_int), parameter, public :: RELAY_MAX_RETURNS = 64, RELAY_MAX_ARGS = 4096, &
    RELAY_MAX_NAME = 128, RELAY_MAX_RESOURCES = 16, RELAY_MAX_ERROR = 2048, &
    RELAY_MAX_DIMS = 8, RELAY_ANY_ARGS = -1, RELAY_MAX_METHODS = 256, &
    RELAY_MAX_CONCURRENCY = 1024, RELAY_GPU_NAME_MAX = 128

  ! relay_arg_kind_t: private, relay_arg_value and relay_arg_ref set it.
  integer(c_int), parameter :: ARG_VALUE = 1, ARG_REF = 2
  ! A value above RELAY_ARG_VALUE_MAX bytes: refused by the submitting call.
  integer(c_int), parameter :: ARG_TOO_LARGE = -1
  ! A value relay_arg_value could not take (an assumed-size array...): its
  ! bytes hold the reason, which the submitting call gives.
  integer(c_int), parameter :: ARG_INVALID = -2

  integer(c_int64_t), parameter, public :: &
    RELAY_CONFIG_COMM = 2_c_int64_t**0, &
    RELAY_CONFIG_NUM_CPUS = 2_c_int64_t**1, &
    RELAY_CONFIG_DRIVER_WORKERS = 2_c_int64_t**2, &
    RELAY_CONFIG_INLINE_MAX = 2_c_int64_t**3, &
    RELAY_CONFIG_LOG_LEVEL = 2_c_int64_t**4, &
    RELAY_CONFIG_POLL_MAX_US = 2_c_int64_t**5, &
    RELAY_CONFIG_CHUNK_BYTES = 2_c_int64_t**6, &
    RELAY_CONFIG_NUM_GPUS = 2_c_int64_t**7, &
    RELAY_CONFIG_RESOURCES = 2_c_int64_t**8, &
    RELAY_CONFIG_MAX_THREADS = 2_c_int64_t**9, &
    RELAY_CONFIG_STORE_BUDGET = 2_c_int64_t**10, &
    RELAY_CONFIG_SPILL_DIR = 2_c_int64_t**11, &
    RELAY_CONFIG_SPILL_KEEP = 2_c_int64_t**12, &
    RELAY_CONFIG_SPILL_MAX = 2_c_int64_t**13, &
    RELAY_CONFIG_CRASH_REPORT = 2_c_int64_t**14, &
    RELAY_CONFIG_FINALIZE_TIMEOUT = 2_c_int64_t**15, &
    RELAY_CONFIG_SPILL_CLEAN = 2_c_int64_t**16, &
    RELAY_CONFIG_RANK_TIMEOUT = 2_c_int64_t**17, &
    RELAY_CONFIG_TRACE = 2_c_int64_t**18, &
    RELAY_CONFIG_TRACE_BUFFER = 2_c_int64_t**19, &
    RELAY_CONFIG_SUMMARY = 2_c_int64_t**20

  ! RELAY_TASK_OPT_NUM_RETURNS is set by relay_submit from size(returns).
  integer(c_int64_t), parameter, public :: &
    RELAY_TASK_OPT_NUM_RETURNS = 2_c_int64_t**0, &
    RELAY_TASK_OPT_MAX_RETRIES = 2_c_int64_t**1, &
    RELAY_TASK_OPT_NAME = 2_c_int64_t**2, &
    RELAY_TASK_OPT_NUM_CPUS = 2_c_int64_t**3, &
    RELAY_TASK_OPT_NUM_GPUS = 2_c_int64_t**4, &
    RELAY_TASK_OPT_RESOURCES = 2_c_int64_t**5

  integer(c_int64_t), parameter, public :: &
    RELAY_ACTOR_OPT_NUM_CPUS = 2_c_int64_t**0, &
    RELAY_ACTOR_OPT_NUM_GPUS = 2_c_int64_t**1, &
    RELAY_ACTOR_OPT_RESOURCES = 2_c_int64_t**2, &
    RELAY_ACTOR_OPT_MAX_CONCURRENCY = 2_c_int64_t**3, &
    RELAY_ACTOR_OPT_NAME = 2_c_int64_t**4

  integer(c_int), parameter, public :: RELAY_DTYPE_BYTES = 0, RELAY_INT8 = 1, &
    RELAY_UINT8 = 2, RELAY_INT16 = 3, RELAY_UINT16 = 4, RELAY_INT32 = 5, RELAY_UINT32 = 6, &
    RELAY_INT64 = 7, RELAY_UINT64 = 8, RELAY_FLOAT32 = 9, RELAY_FLOAT64 = 10

  ! -------------------------------------------------------------------- types
  ! A ref (future): a plain value, as in C.
  type, bind(C), public :: relay_ref_t
    integer(c_int64_t) :: id = 0
  end type

  type, bind(C), public :: relay_actor_t
    integer(c_int64_t) :: id = 0
    integer(c_int64_t) :: class_hash = 0
  end type

  ! A read-only view (relay_get_object, relay_ctx_arg_object).
  type, bind(C), public :: relay_object_t
    type(c_ptr) :: p = c_null_ptr
  end type

  ! Largest value argument relay_arg_value takes: larger data goes as a ref
  ! (relay_put_array, relay_arg_ref).
  integer(c_int), parameter, public :: RELAY_ARG_VALUE_MAX = 1024

  ! One task argument: its bytes are copied when it is made, so any
  ! expression may be passed to relay_arg_value. The copy lives inside the
  ! value itself, not in an allocatable component: gfortran (12) leaks the
  ! allocatable components of function results in array constructors, the
  ! natural way to write an argument list ([relay_arg_value(x), ...]).
  type, public :: relay_arg_t
    integer(c_int) :: kind = 0
    integer(c_size_t) :: size = 0
    integer(c_int8_t) :: bytes(RELAY_ARG_VALUE_MAX)
    type(relay_ref_t) :: ref
  end type

  type, public :: relay_resource_t
    character(len=:), allocatable :: name
    real(c_double) :: quantity = 0
  end type

  ! relay_config_t: set a field and its RELAY_CONFIG_* bit in field_mask.
  ! comm is the Fortran handle of a communicator (an integer of the mpi
  ! module, comm%MPI_VAL of mpi_f08); MPI must be initialized then.
  type, public :: relay_config_t
    integer(c_int64_t) :: field_mask = 0
    integer :: comm = 0
    integer(c_int) :: num_cpus = 0, driver_workers = 0, log_level = 1, poll_max_us = 0
    integer(c_int64_t) :: inline_max = 0, chunk_bytes = 0, store_budget = 0, spill_max = 0
    integer(c_int) :: num_gpus = 0, max_threads = 0, spill_keep = 0, crash_report = 1
    integer(c_int) :: spill_clean = 1, rank_timeout = 10, summary = 0
    real(c_double) :: finalize_timeout = 10
    character(len=:), allocatable :: spill_dir
    character(len=:), allocatable :: trace
    integer(c_int64_t) :: trace_buffer = 0
    type(relay_resource_t), allocatable :: resources(:)
  end type

  ! relay_task_opts_t without num_returns (the size of the returns array).
  type, public :: relay_task_opts_t
    integer(c_int64_t) :: field_mask = 0
    integer(c_int) :: max_retries = 0
    character(len=:), allocatable :: name
    real(c_double) :: num_cpus = 1, num_gpus = 0
    type(relay_resource_t), allocatable :: resources(:)
  end type

  type, public :: relay_actor_opts_t
    integer(c_int64_t) :: field_mask = 0
    real(c_double) :: num_cpus = 1, num_gpus = 0
    type(relay_resource_t), allocatable :: resources(:)
    integer(c_int) :: max_concurrency = 1
    character(len=:), allocatable :: name
  end type

  ! A method of an actor class: fn = c_funloc of a relay_method_fn.
  type, public :: relay_method_t
    character(len=:), allocatable :: name
    type(c_funptr) :: fn = c_null_funptr
    integer(c_int) :: num_args = RELAY_ANY_ARGS
  end type

  ! An actor class: init / fini may stay c_null_funptr.
  type, public :: relay_actor_class_t
    type(c_funptr) :: init = c_null_funptr
    integer(c_int) :: init_num_args = RELAY_ANY_ARGS
    type(c_funptr) :: fini = c_null_funptr
    type(relay_method_t), allocatable :: methods(:)
  end type

  type, bind(C), public :: relay_stats_t
    integer(c_int64_t) :: tasks_submitted, tasks_executed, tasks_pending, directory_objects, &
      directory_bytes, store_objects, store_bytes, held_refs, live_views, bytes_fetched, &
      live_objects, directory_waiters, tasks_running, tasks_blocked, worker_threads, &
      actors_hosted, actor_calls_run, spilled_objects, spilled_bytes, spill_writes, &
      spill_reads, spill_failures, spill_write_bytes, spill_read_bytes, spill_write_ns, &
      spill_read_ns, tasks_placed_ahead, tasks_waiting, objects_pushed, &
      objects_handed_over, objects_forwarded, tasks_moved, ref_checks, lineage_tasks, &
      lineage_bytes
  end type

  type, bind(C), public :: relay_resources_t
    real(c_double) :: cpus, cpus_free
    integer(c_int) :: gpus
    real(c_double) :: gpus_free
  end type

  ! ---------------------------------------------------- procedure interfaces
  abstract interface
    integer(c_int) function relay_fn(ctx) bind(C)
      import :: c_int, c_ptr
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function relay_actor_init_fn(ctx, state) bind(C)
      import :: c_int, c_ptr
      type(c_ptr), value :: ctx
      type(c_ptr), intent(out) :: state
    end function
    integer(c_int) function relay_method_fn(ctx, state) bind(C)
      import :: c_int, c_ptr
      type(c_ptr), value :: ctx, state
    end function
    subroutine relay_actor_fini_fn(state) bind(C)
      import :: c_ptr
      type(c_ptr), value :: state
    end subroutine
  end interface
  public :: relay_fn, relay_actor_init_fn, relay_method_fn, relay_actor_fini_fn

  ! --------------------------------------------------------------- C structs
  type, bind(C) :: arg_c
    integer(c_int) :: kind
    type(c_ptr) :: data
    integer(c_size_t) :: size
    type(relay_ref_t) :: ref
  end type

  type, bind(C) :: resource_c
    type(c_ptr) :: name
    real(c_double) :: quantity
  end type

  ! Names of a list of resources, NUL-terminated, and the C array naming them.
  type :: resource_list
    character(kind=c_char), allocatable :: names(:, :)
    type(resource_c), allocatable :: c(:)
  end type

  type, bind(C) :: task_opts_c
    integer(c_int64_t) :: field_mask
    integer(c_int) :: num_returns, max_retries
    type(c_ptr) :: name
    real(c_double) :: num_cpus, num_gpus
    type(c_ptr) :: resources
    integer(c_size_t) :: num_resources
  end type

  type, bind(C) :: actor_opts_c
    integer(c_int64_t) :: field_mask
    real(c_double) :: num_cpus, num_gpus
    type(c_ptr) :: resources
    integer(c_size_t) :: num_resources
    integer(c_int) :: max_concurrency
    type(c_ptr) :: name
  end type

  type, bind(C) :: method_c
    type(c_ptr) :: name
    type(c_funptr) :: fn
    integer(c_int) :: num_args
  end type

  type, bind(C) :: actor_class_c
    type(c_funptr) :: init
    integer(c_int) :: init_num_args
    type(c_funptr) :: fini
    type(c_ptr) :: methods
    integer(c_size_t) :: num_methods
  end type

  ! relay_f_config_t of relay_fortran.c
  type, bind(C) :: config_c
    integer(c_int64_t) :: field_mask
    integer(c_int) :: comm, num_cpus, driver_workers, log_level
    integer(c_int64_t) :: inline_max
    integer(c_int) :: poll_max_us, num_gpus
    integer(c_int64_t) :: chunk_bytes
    type(c_ptr) :: resources
    integer(c_size_t) :: num_resources
    integer(c_int) :: max_threads, spill_keep
    integer(c_int64_t) :: store_budget
    type(c_ptr) :: spill_dir
    integer(c_int64_t) :: spill_max
    integer(c_int) :: crash_report, spill_clean
    real(c_double) :: finalize_timeout
    integer(c_int) :: rank_timeout, summary
    type(c_ptr) :: trace
    integer(c_int64_t) :: trace_buffer
  end type

  ! ------------------------------------------------------------- C functions
  interface
    type(c_ptr) function c_strerror(status) bind(C, name="relay_strerror")
      import :: c_ptr, c_int
      integer(c_int), value :: status
    end function
    type(c_ptr) function c_status_name(status) bind(C, name="relay_status_name")
      import :: c_ptr, c_int
      integer(c_int), value :: status
    end function
    type(c_ptr) function c_last_error() bind(C, name="relay_f_last_error")
      import :: c_ptr
    end function
    subroutine c_error_clear() bind(C, name="relay_f_error_clear")
    end subroutine
    integer(c_int) function c_set_error(status, msg) bind(C, name="relay_f_set_error")
      import :: c_int, c_char
      integer(c_int), value :: status
      character(kind=c_char), intent(in) :: msg(*)
    end function
    integer(c_size_t) function c_strlen(s) bind(C, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_register(name, fn) bind(C, name="relay_register")
      import :: c_int, c_char, c_funptr
      character(kind=c_char), intent(in) :: name(*)
      type(c_funptr), value :: fn
    end function
    integer(c_int) function c_init(cfg) bind(C, name="relay_f_init")
      import :: c_int, config_c
      type(config_c), intent(in) :: cfg
    end function
    integer(c_int) function c_init_default(cfg) bind(C, name="relay_f_init")
      import :: c_int, c_ptr
      type(c_ptr), value :: cfg
    end function
    integer(c_int) function c_finalize() bind(C, name="relay_finalize")
      import :: c_int
    end function
    integer(c_int) function c_rank(r) bind(C, name="relay_rank")
      import :: c_int
      integer(c_int), intent(out) :: r
    end function
    integer(c_int) function c_size(s) bind(C, name="relay_size")
      import :: c_int
      integer(c_int), intent(out) :: s
    end function
    integer(c_int) function c_bytes(x, call, addr, size) bind(C, name="relay_f_bytes")
      import :: c_int, c_ptr, c_size_t, c_char
      type(*), dimension(..), intent(in), contiguous :: x
      character(kind=c_char), intent(in) :: call(*)
      type(c_ptr), intent(out) :: addr
      integer(c_size_t), intent(out) :: size
    end function
    integer(c_int) function c_submit(fn, args, nargs, opts, rets) bind(C, name="relay_submit")
      import :: c_int, c_char, arg_c, c_size_t, task_opts_c, relay_ref_t
      character(kind=c_char), intent(in) :: fn(*)
      type(arg_c), intent(in) :: args(*)
      integer(c_size_t), value :: nargs
      type(task_opts_c), intent(in) :: opts
      type(relay_ref_t), intent(inout) :: rets(*)
    end function
    integer(c_int) function c_cancel(ref, force, recursive) bind(C, name="relay_cancel")
      import :: c_int, relay_ref_t
      type(relay_ref_t), value :: ref
      integer(c_int), value :: force, recursive
    end function
    integer(c_int) function c_register_actor(name, cls) bind(C, name="relay_register_actor")
      import :: c_int, c_char, actor_class_c
      character(kind=c_char), intent(in) :: name(*)
      type(actor_class_c), intent(in) :: cls
    end function
    integer(c_int) function c_actor_create(cls, args, nargs, opts, actor) &
        bind(C, name="relay_actor_create")
      import :: c_int, c_char, arg_c, c_size_t, actor_opts_c, relay_actor_t
      character(kind=c_char), intent(in) :: cls(*)
      type(arg_c), intent(in) :: args(*)
      integer(c_size_t), value :: nargs
      type(actor_opts_c), intent(in) :: opts
      type(relay_actor_t), intent(inout) :: actor
    end function
    integer(c_int) function c_actor_call(actor, method, args, nargs, opts, rets) &
        bind(C, name="relay_actor_call")
      import :: c_int, c_char, arg_c, c_size_t, task_opts_c, relay_ref_t, relay_actor_t
      type(relay_actor_t), value :: actor
      character(kind=c_char), intent(in) :: method(*)
      type(arg_c), intent(in) :: args(*)
      integer(c_size_t), value :: nargs
      type(task_opts_c), intent(in) :: opts
      type(relay_ref_t), intent(inout) :: rets(*)
    end function
    integer(c_int) function c_actor_lookup(name, actor) bind(C, name="relay_actor_lookup")
      import :: c_int, c_char, relay_actor_t
      character(kind=c_char), intent(in) :: name(*)
      type(relay_actor_t), intent(inout) :: actor
    end function
    integer(c_int) function c_actor_kill(actor) bind(C, name="relay_actor_kill")
      import :: c_int, relay_actor_t
      type(relay_actor_t), value :: actor
    end function
    integer(c_int) function c_put(data, size, ref) bind(C, name="relay_put")
      import :: c_int, c_ptr, c_size_t, relay_ref_t
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
      type(relay_ref_t), intent(inout) :: ref
    end function
    integer(c_int) function c_put_object(data, size, refs, nrefs, ref) &
        bind(C, name="relay_put_object")
      import :: c_int, c_ptr, c_size_t, relay_ref_t
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
      type(relay_ref_t), intent(in) :: refs(*)
      integer(c_size_t), value :: nrefs
      type(relay_ref_t), intent(inout) :: ref
    end function
    integer(c_int) function c_put_array(x, ref) bind(C, name="relay_f_put_array")
      import :: c_int, relay_ref_t
      type(*), dimension(..), intent(in), contiguous :: x
      type(relay_ref_t), intent(inout) :: ref
    end function
    integer(c_int) function c_get(ref, x, timeout) bind(C, name="relay_f_get")
      import :: c_int, c_double, relay_ref_t
      type(relay_ref_t), value :: ref
      type(*), dimension(..), intent(inout), contiguous :: x
      real(c_double), value :: timeout
    end function
    integer(c_int) function c_get_object(ref, timeout, obj) bind(C, name="relay_get")
      import :: c_int, c_double, relay_ref_t, c_ptr
      type(relay_ref_t), value :: ref
      real(c_double), value :: timeout
      type(c_ptr), intent(out) :: obj
    end function
    integer(c_int) function c_wait(refs, n, num_ready, timeout, ready, nready) &
        bind(C, name="relay_wait")
      import :: c_int, c_double, relay_ref_t, c_size_t
      type(relay_ref_t), intent(in) :: refs(*)
      integer(c_size_t), value :: n, num_ready
      real(c_double), value :: timeout
      integer(c_int), intent(out) :: ready(*)
      integer(c_size_t), intent(out) :: nready
    end function
    integer(c_int) function c_release(ref) bind(C, name="relay_release")
      import :: c_int, relay_ref_t
      type(relay_ref_t), value :: ref
    end function
    integer(c_int) function c_release_many(refs, n) bind(C, name="relay_release_many")
      import :: c_int, relay_ref_t, c_size_t
      type(relay_ref_t), intent(in) :: refs(*)
      integer(c_size_t), value :: n
    end function
    integer(c_int) function c_retain(ref) bind(C, name="relay_retain")
      import :: c_int, relay_ref_t
      type(relay_ref_t), value :: ref
    end function
    integer(c_size_t) function c_object_size(obj) bind(C, name="relay_object_size")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: obj
    end function
    integer(c_size_t) function c_object_num_refs(obj) bind(C, name="relay_object_num_refs")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: obj
    end function
    integer(c_int) function c_object_ref(obj, i, ref) bind(C, name="relay_object_ref")
      import :: c_int, c_ptr, c_size_t, relay_ref_t
      type(c_ptr), value :: obj
      integer(c_size_t), value :: i
      type(relay_ref_t), intent(inout) :: ref
    end function
    integer(c_int) function c_object_array(obj, dtype, ndims, dims) &
        bind(C, name="relay_object_array")
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: obj
      integer(c_int), intent(out) :: dtype, ndims
      integer(c_int64_t), intent(out) :: dims(*)
    end function
    integer(c_int) function c_object_copy(obj, x) bind(C, name="relay_f_object_copy")
      import :: c_int, c_ptr
      type(c_ptr), value :: obj
      type(*), dimension(..), intent(inout), contiguous :: x
    end function
    integer(c_int) function c_object_status(obj) bind(C, name="relay_object_status")
      import :: c_int, c_ptr
      type(c_ptr), value :: obj
    end function
    type(c_ptr) function c_object_error(obj) bind(C, name="relay_object_error")
      import :: c_ptr
      type(c_ptr), value :: obj
    end function
    integer(c_int) function c_object_free(obj) bind(C, name="relay_object_free")
      import :: c_int, c_ptr
      type(c_ptr), value :: obj
    end function
    integer(c_int) function c_object_save(obj, path, dataset) bind(C, name="relay_object_save")
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: obj
      character(kind=c_char), intent(in) :: path(*), dataset(*)
    end function
    integer(c_size_t) function c_ctx_num_args(ctx) bind(C, name="relay_ctx_num_args")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: ctx
    end function
    integer(c_size_t) function c_ctx_num_returns(ctx) bind(C, name="relay_ctx_num_returns")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_ctx_arg(ctx, i, x) bind(C, name="relay_f_ctx_arg")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(*), dimension(..), intent(inout), contiguous :: x
    end function
    integer(c_int) function c_ctx_arg_raw(ctx, i, data, size) bind(C, name="relay_ctx_arg")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(c_ptr), intent(out) :: data
      integer(c_size_t), intent(out) :: size
    end function
    integer(c_int) function c_ctx_arg_object(ctx, i, obj) bind(C, name="relay_ctx_arg_object")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(c_ptr), intent(out) :: obj
    end function
    integer(c_int) function c_ctx_arg_ref(ctx, i, ref) bind(C, name="relay_ctx_arg_ref")
      import :: c_int, c_ptr, c_size_t, relay_ref_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(relay_ref_t), intent(inout) :: ref
    end function
    integer(c_int) function c_ctx_return(ctx, i, data, size) bind(C, name="relay_ctx_return")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
    end function
    integer(c_int) function c_ctx_return_object(ctx, i, data, size, refs, nrefs) &
        bind(C, name="relay_ctx_return_object")
      import :: c_int, c_ptr, c_size_t, relay_ref_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
      type(relay_ref_t), intent(in) :: refs(*)
      integer(c_size_t), value :: nrefs
    end function
    integer(c_int) function c_ctx_return_array(ctx, i, x) bind(C, name="relay_f_ctx_return_array")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_size_t), value :: i
      type(*), dimension(..), intent(in), contiguous :: x
    end function
    integer(c_int) function c_ctx_fail(ctx, msg) bind(C, name="relay_f_ctx_fail")
      import :: c_int, c_ptr, c_char
      type(c_ptr), value :: ctx
      character(kind=c_char), intent(in) :: msg(*)
    end function
    integer(c_int) function c_ctx_rank(ctx, r) bind(C, name="relay_ctx_rank")
      import :: c_int, c_ptr
      type(c_ptr), value :: ctx
      integer(c_int), intent(out) :: r
    end function
    integer(c_int) function c_ctx_task_id(ctx, id) bind(C, name="relay_ctx_task_id")
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: ctx
      integer(c_int64_t), intent(out) :: id
    end function
    integer(c_int) function c_ctx_cancelled(ctx) bind(C, name="relay_ctx_cancelled")
      import :: c_int, c_ptr
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_ctx_actor(ctx, actor) bind(C, name="relay_ctx_actor")
      import :: c_int, c_ptr, relay_actor_t
      type(c_ptr), value :: ctx
      type(relay_actor_t), intent(inout) :: actor
    end function
    integer(c_int) function c_ctx_gpu_ids(ctx, ids, max_ids, n) bind(C, name="relay_ctx_gpu_ids")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: ctx
      integer(c_int), intent(out) :: ids(*)
      integer(c_size_t), value :: max_ids
      integer(c_size_t), intent(out) :: n
    end function
    integer(c_size_t) function c_dtype_size(dtype) bind(C, name="relay_dtype_size")
      import :: c_size_t, c_int
      integer(c_int), value :: dtype
    end function
    integer(c_int) function c_stats(s) bind(C, name="relay_stats")
      import :: c_int, relay_stats_t
      type(relay_stats_t), intent(out) :: s
    end function
    integer(c_int) function c_local_resources(r) bind(C, name="relay_local_resources")
      import :: c_int, relay_resources_t
      type(relay_resources_t), intent(out) :: r
    end function
    integer(c_int) function c_resource_capacity(rank, name, q) &
        bind(C, name="relay_resource_capacity")
      import :: c_int, c_char, c_double
      integer(c_int), value :: rank
      character(kind=c_char), intent(in) :: name(*)
      real(c_double), intent(out) :: q
    end function
    integer(c_int) function c_sync(timeout) bind(C, name="relay_sync")
      import :: c_int, c_double
      real(c_double), value :: timeout
    end function
  end interface

  ! ----------------------------------------------------------- public names
  public :: relay_strerror, relay_status_name, relay_last_error
  public :: relay_register, relay_init, relay_finalize, relay_rank, relay_size
  public :: relay_arg_value, relay_arg_ref, relay_submit, relay_cancel
  public :: relay_register_actor, relay_actor_create, relay_actor_call, relay_actor_lookup
  public :: relay_actor_kill
  public :: relay_put, relay_put_array, relay_put_object, relay_get, relay_get_object
  public :: relay_wait, relay_release, relay_retain
  public :: relay_object_size, relay_object_num_refs, relay_object_ref, relay_object_array
  public :: relay_object_copy, relay_object_status, relay_object_error, relay_object_free
  public :: relay_object_save
  public :: relay_ctx_num_args, relay_ctx_num_returns, relay_ctx_arg, relay_ctx_arg_size
  public :: relay_ctx_arg_object, relay_ctx_arg_ref, relay_ctx_return, relay_ctx_return_array
  public :: relay_ctx_return_object, relay_ctx_fail, relay_ctx_rank, relay_ctx_task_id
  public :: relay_ctx_cancelled, relay_ctx_actor, relay_ctx_gpu_ids
  public :: relay_dtype_size, relay_stats, relay_local_resources, relay_resource_capacity
  public :: relay_sync

  ! fn: a relay_fn procedure, or its c_funloc.
  interface relay_register
    module procedure register_proc, register_funptr
  end interface

  ! ret: one ref (num_returns 1) or an array of refs (num_returns = size).
  interface relay_submit
    module procedure submit_1, submit_n
  end interface

  interface relay_actor_call
    module procedure actor_call_1, actor_call_n
  end interface

  interface relay_release
    module procedure release_1, release_n
  end interface

contains

  ! ---------------------------------------------------------------- helpers
  function c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer(c_size_t) :: n, i
    if (.not. c_associated(p)) then
      s = ''
      return
    end if
    n = c_strlen(p)
    call c_f_pointer(p, chars, [n])
    allocate (character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  pure function cstr(s) result(c)
    character(len=*), intent(in) :: s
    character(kind=c_char, len=:), allocatable :: c
    c = trim(s)//c_null_char
  end function

  ! A failure of a C call made directly: relay's own message is the last error.
  integer(c_int) function chk(rc)
    integer(c_int), intent(in) :: rc
    if (rc /= RELAY_OK) call c_error_clear()
    chk = rc
  end function

  real(c_double) function timeout_or_forever(timeout)
    real(c_double), intent(in), optional :: timeout
    timeout_or_forever = RELAY_FOREVER
    if (present(timeout)) timeout_or_forever = timeout
  end function

  ! An unallocated name: RELAY_ERR_INVALID_ARG naming the field, field(i)%name.
  integer(c_int) function unnamed(call, field, i) result(rc)
    character(len=*), intent(in) :: call, field
    integer, intent(in) :: i
    character(len=16) :: num
    write (num, '(i0)') i
    rc = c_set_error(RELAY_ERR_INVALID_ARG, &
                     cstr(call//': '//field//'('//trim(num)//')%name is not allocated'))
  end function

  ! The C array of res; field names res in the errors of call.
  integer(c_int) function resources_c(call, field, res, list) result(rc)
    character(len=*), intent(in) :: call, field
    type(relay_resource_t), intent(in), optional :: res(:)
    type(resource_list), intent(out), target :: list
    integer :: i, j, n
    rc = RELAY_OK
    n = 0
    if (present(res)) n = size(res)
    do i = 1, n
      if (.not. allocated(res(i)%name)) then
        rc = unnamed(call, field, i)
        return
      end if
    end do
    allocate (list%names(RELAY_MAX_NAME + 1, max(n, 1)), list%c(max(n, 1)))
    list%names = c_null_char
    do i = 1, n
      do j = 1, min(len_trim(res(i)%name), RELAY_MAX_NAME)
        list%names(j, i) = res(i)%name(j:j)
      end do
      list%c(i)%name = c_loc(list%names(1, i))
      list%c(i)%quantity = res(i)%quantity
    end do
  end function

  ! The C arguments of args; RELAY_ERR_INVALID_ARG for a value too large or
  ! one relay_arg_value refused. c points into args: the caller's args must
  ! be a target too, so that the pointers stay valid after the return.
  integer(c_int) function args_c(call, args, c) result(rc)
    character(len=*), intent(in) :: call
    type(relay_arg_t), intent(in), target :: args(:)
    type(arg_c), intent(out) :: c(:)
    character(len=256) :: msg
    integer :: i
    rc = RELAY_OK
    do i = 1, size(args)
      if (args(i)%kind == ARG_INVALID) then
        write (msg, '(a,a,i0,a)') call, ': argument ', i, ': '
        rc = c_set_error(RELAY_ERR_INVALID_ARG, cstr(trim(msg)//' '// &
                         transfer(args(i)%bytes(1:args(i)%size), repeat(' ', int(args(i)%size)))))
        return
      end if
      if (args(i)%kind == ARG_TOO_LARGE) then
        write (msg, '(a,a,i0,a,i0,a,i0,a)') call, ': argument ', i, ' is a value of ', &
          args(i)%size, ' bytes, above RELAY_ARG_VALUE_MAX (', RELAY_ARG_VALUE_MAX, &
          '): pass it as a ref (relay_put_array, relay_arg_ref)'
        rc = c_set_error(RELAY_ERR_INVALID_ARG, cstr(msg))
        return
      end if
      c(i)%kind = args(i)%kind
      c(i)%data = c_null_ptr
      c(i)%size = 0
      c(i)%ref = args(i)%ref
      if (args(i)%kind == ARG_VALUE) then
        c(i)%size = args(i)%size
        if (c(i)%size > 0) c(i)%data = c_loc(args(i)%bytes)
      end if
    end do
  end function

  ! ----------------------------------------------------------------- errors
  function relay_strerror(status) result(s)
    integer(c_int), intent(in) :: status
    character(len=:), allocatable :: s
    s = c_string(c_strerror(status))
  end function

  function relay_status_name(status) result(s)
    integer(c_int), intent(in) :: status
    character(len=:), allocatable :: s
    s = c_string(c_status_name(status))
  end function

  ! Detail of the last failing relay call on the calling thread.
  function relay_last_error() result(s)
    character(len=:), allocatable :: s
    s = c_string(c_last_error())
  end function

  ! ------------------------------------------------------ init and finalize
  integer(c_int) function register_proc(name, fn) result(rc)
    character(len=*), intent(in) :: name
    procedure(relay_fn) :: fn
    rc = chk(c_register(cstr(name), c_funloc(fn)))
  end function

  integer(c_int) function register_funptr(name, fn) result(rc)
    character(len=*), intent(in) :: name
    type(c_funptr), value :: fn
    rc = chk(c_register(cstr(name), fn))
  end function

  ! Collective. Without config: defaults (and the RELAY_* variables).
  integer(c_int) function relay_init(config) result(rc)
    type(relay_config_t), intent(in), optional :: config
    type(config_c) :: c
    type(resource_list), target :: res
    character(kind=c_char, len=:), allocatable, target :: dir, trace
    if (.not. present(config)) then
      rc = c_init_default(c_null_ptr)
      return
    end if
    rc = resources_c('relay_init', 'config%resources', config%resources, res)
    if (rc /= RELAY_OK) return
    c%field_mask = config%field_mask
    c%comm = int(config%comm, c_int)
    c%num_cpus = config%num_cpus
    c%driver_workers = config%driver_workers
    c%log_level = config%log_level
    c%inline_max = config%inline_max
    c%poll_max_us = config%poll_max_us
    c%num_gpus = config%num_gpus
    c%chunk_bytes = config%chunk_bytes
    c%resources = c_loc(res%c)
    c%num_resources = 0
    if (allocated(config%resources)) c%num_resources = size(config%resources)
    c%max_threads = config%max_threads
    c%spill_keep = config%spill_keep
    c%store_budget = config%store_budget
    c%spill_dir = c_null_ptr
    if (allocated(config%spill_dir)) then
      dir = cstr(config%spill_dir)
      c%spill_dir = c_loc(dir)
    end if
    c%spill_max = config%spill_max
    c%crash_report = config%crash_report
    c%spill_clean = config%spill_clean
    c%finalize_timeout = config%finalize_timeout
    c%rank_timeout = config%rank_timeout
    c%summary = config%summary
    c%trace = c_null_ptr
    if (allocated(config%trace)) then
      trace = cstr(config%trace)
      c%trace = c_loc(trace)
    end if
    c%trace_buffer = config%trace_buffer
    rc = c_init(c)
  end function

  integer(c_int) function relay_finalize() result(rc)
    rc = chk(c_finalize())
  end function

  integer(c_int) function relay_rank(rank) result(rc)
    integer, intent(out) :: rank
    integer(c_int) :: r
    rc = chk(c_rank(r))
    if (rc == RELAY_OK) rank = r
  end function

  integer(c_int) function relay_size(nranks) result(rc)
    integer, intent(out) :: nranks
    integer(c_int) :: s
    rc = chk(c_size(s))
    if (rc == RELAY_OK) nranks = s
  end function

  ! ------------------------------------------------------------------ tasks
  ! A value argument: a copy of x's bytes (x: any variable or expression of
  ! at most RELAY_ARG_VALUE_MAX bytes; a larger one is refused by the call
  ! it is given to, with RELAY_ERR_INVALID_ARG).
  function relay_arg_value(x) result(a)
    type(*), dimension(..), intent(in), contiguous :: x
    type(relay_arg_t) :: a
    type(c_ptr) :: addr
    integer(c_size_t) :: n
    integer(c_int8_t), pointer :: src(:)
    character(len=:), allocatable :: why
    if (c_bytes(x, cstr('relay_arg_value'), addr, n) /= RELAY_OK) then
      why = relay_last_error()
      a%kind = ARG_INVALID
      a%size = min(len(why), RELAY_ARG_VALUE_MAX)
      a%bytes(1:a%size) = transfer(why(1:a%size), a%bytes, a%size)
      return
    end if
    a%size = n
    if (n > RELAY_ARG_VALUE_MAX) then
      a%kind = ARG_TOO_LARGE
      return
    end if
    a%kind = ARG_VALUE
    if (n > 0) then
      call c_f_pointer(addr, src, [n])
      a%bytes(1:n) = src
    end if
  end function

  function relay_arg_ref(ref) result(a)
    type(relay_ref_t), intent(in) :: ref
    type(relay_arg_t) :: a
    a%kind = ARG_REF
    a%ref = ref
  end function

  integer(c_int) function submit_n(fn, args, returns, opts) result(rc)
    character(len=*), intent(in) :: fn
    type(relay_arg_t), intent(in), target :: args(:)
    type(relay_ref_t), intent(inout) :: returns(:)
    type(relay_task_opts_t), intent(in), optional :: opts
    type(arg_c) :: ca(max(size(args), 1))
    type(task_opts_c) :: co
    type(resource_list), target :: res
    character(kind=c_char, len=:), allocatable, target :: name
    type(relay_ref_t) :: rets(max(size(returns), 1))
    rc = args_c('relay_submit', args, ca)
    if (rc == RELAY_OK) rc = task_opts('relay_submit', opts, size(returns), co, res, name)
    if (rc /= RELAY_OK) return
    rc = chk(c_submit(cstr(fn), ca, size(args, kind=c_size_t), co, rets))
    if (rc == RELAY_OK) returns = rets(1:size(returns))
  end function

  integer(c_int) function submit_1(fn, args, ret, opts) result(rc)
    character(len=*), intent(in) :: fn
    type(relay_arg_t), intent(in) :: args(:)
    type(relay_ref_t), intent(inout) :: ret
    type(relay_task_opts_t), intent(in), optional :: opts
    type(relay_ref_t) :: rets(1)
    rc = submit_n(fn, args, rets, opts)
    if (rc == RELAY_OK) ret = rets(1)
  end function

  integer(c_int) function task_opts(call, opts, nret, co, res, name) result(rc)
    character(len=*), intent(in) :: call
    type(relay_task_opts_t), intent(in), optional :: opts
    integer, intent(in) :: nret
    type(task_opts_c), intent(out) :: co
    type(resource_list), intent(inout), target :: res
    character(kind=c_char, len=:), allocatable, intent(inout), target :: name
    co%field_mask = RELAY_TASK_OPT_NUM_RETURNS
    co%num_returns = nret
    co%max_retries = 0
    co%name = c_null_ptr
    co%num_cpus = 1
    co%num_gpus = 0
    co%resources = c_null_ptr
    co%num_resources = 0
    rc = RELAY_OK
    if (.not. present(opts)) return
    co%field_mask = ior(iand(opts%field_mask, not(RELAY_TASK_OPT_NUM_RETURNS)), &
                        RELAY_TASK_OPT_NUM_RETURNS)
    co%max_retries = opts%max_retries
    if (allocated(opts%name)) then
      name = cstr(opts%name)
      co%name = c_loc(name)
    end if
    co%num_cpus = opts%num_cpus
    co%num_gpus = opts%num_gpus
    rc = resources_c(call, 'opts%resources', opts%resources, res)
    if (rc /= RELAY_OK) return
    co%resources = c_loc(res%c)
    if (allocated(opts%resources)) co%num_resources = size(opts%resources)
  end function

  integer(c_int) function relay_cancel(ref, force, recursive) result(rc)
    type(relay_ref_t), intent(in) :: ref
    logical, intent(in), optional :: force, recursive
    integer(c_int) :: f, r
    f = 0
    r = 1
    if (present(force)) f = merge(1, 0, force)
    if (present(recursive)) r = merge(1, 0, recursive)
    rc = chk(c_cancel(ref, f, r))
  end function

  ! ----------------------------------------------------------------- actors
  integer(c_int) function relay_register_actor(name, cls) result(rc)
    character(len=*), intent(in) :: name
    type(relay_actor_class_t), intent(in) :: cls
    type(actor_class_c) :: c
    type(method_c), allocatable, target :: m(:)
    character(kind=c_char), allocatable, target :: names(:, :)
    integer :: i, j, n
    n = 0
    if (allocated(cls%methods)) n = size(cls%methods)
    do i = 1, n
      if (.not. allocated(cls%methods(i)%name)) then
        rc = unnamed('relay_register_actor', 'cls%methods', i)
        return
      end if
    end do
    allocate (m(max(n, 1)), names(RELAY_MAX_NAME + 1, max(n, 1)))
    names = c_null_char
    do i = 1, n
      do j = 1, min(len_trim(cls%methods(i)%name), RELAY_MAX_NAME)
        names(j, i) = cls%methods(i)%name(j:j)
      end do
      m(i)%name = c_loc(names(1, i))
      m(i)%fn = cls%methods(i)%fn
      m(i)%num_args = cls%methods(i)%num_args
    end do
    c%init = cls%init
    c%init_num_args = cls%init_num_args
    c%fini = cls%fini
    c%methods = c_loc(m)
    c%num_methods = n
    rc = chk(c_register_actor(cstr(name), c))
  end function

  integer(c_int) function relay_actor_create(cls, args, actor, opts) result(rc)
    character(len=*), intent(in) :: cls
    type(relay_arg_t), intent(in), target :: args(:)
    type(relay_actor_t), intent(inout) :: actor
    type(relay_actor_opts_t), intent(in), optional :: opts
    type(arg_c) :: ca(max(size(args), 1))
    type(actor_opts_c) :: co
    type(resource_list), target :: res
    character(kind=c_char, len=:), allocatable, target :: name
    rc = args_c('relay_actor_create', args, ca)
    if (rc /= RELAY_OK) return
    co%field_mask = 0
    co%num_cpus = 1
    co%num_gpus = 0
    co%resources = c_null_ptr
    co%num_resources = 0
    co%max_concurrency = 1
    co%name = c_null_ptr
    if (present(opts)) then
      co%field_mask = opts%field_mask
      co%num_cpus = opts%num_cpus
      co%num_gpus = opts%num_gpus
      rc = resources_c('relay_actor_create', 'opts%resources', opts%resources, res)
      if (rc /= RELAY_OK) return
      co%resources = c_loc(res%c)
      if (allocated(opts%resources)) co%num_resources = size(opts%resources)
      co%max_concurrency = opts%max_concurrency
      if (allocated(opts%name)) then
        name = cstr(opts%name)
        co%name = c_loc(name)
      end if
    end if
    rc = chk(c_actor_create(cstr(cls), ca, size(args, kind=c_size_t), co, actor))
  end function

  ! opts: only its name applies (RELAY_TASK_OPT_NAME).
  integer(c_int) function actor_call_n(actor, method, args, returns, opts) result(rc)
    type(relay_actor_t), intent(in) :: actor
    character(len=*), intent(in) :: method
    type(relay_arg_t), intent(in), target :: args(:)
    type(relay_ref_t), intent(inout) :: returns(:)
    type(relay_task_opts_t), intent(in), optional :: opts
    type(arg_c) :: ca(max(size(args), 1))
    type(task_opts_c) :: co
    type(resource_list), target :: res
    character(kind=c_char, len=:), allocatable, target :: name
    type(relay_ref_t) :: rets(max(size(returns), 1))
    rc = args_c('relay_actor_call', args, ca)
    if (rc == RELAY_OK) rc = task_opts('relay_actor_call', opts, size(returns), co, res, name)
    if (rc /= RELAY_OK) return
    co%field_mask = iand(co%field_mask, ior(RELAY_TASK_OPT_NUM_RETURNS, RELAY_TASK_OPT_NAME))
    rc = chk(c_actor_call(actor, cstr(method), ca, size(args, kind=c_size_t), co, rets))
    if (rc == RELAY_OK) returns = rets(1:size(returns))
  end function

  integer(c_int) function actor_call_1(actor, method, args, ret, opts) result(rc)
    type(relay_actor_t), intent(in) :: actor
    character(len=*), intent(in) :: method
    type(relay_arg_t), intent(in) :: args(:)
    type(relay_ref_t), intent(inout) :: ret
    type(relay_task_opts_t), intent(in), optional :: opts
    type(relay_ref_t) :: rets(1)
    rc = actor_call_n(actor, method, args, rets, opts)
    if (rc == RELAY_OK) ret = rets(1)
  end function

  integer(c_int) function relay_actor_lookup(name, actor) result(rc)
    character(len=*), intent(in) :: name
    type(relay_actor_t), intent(inout) :: actor
    rc = chk(c_actor_lookup(cstr(name), actor))
  end function

  integer(c_int) function relay_actor_kill(actor) result(rc)
    type(relay_actor_t), intent(in) :: actor
    rc = chk(c_actor_kill(actor))
  end function

  ! ---------------------------------------------------------------- objects
  ! Plain bytes of any contiguous variable.
  integer(c_int) function relay_put(x, ref) result(rc)
    type(*), dimension(..), intent(in), contiguous :: x
    type(relay_ref_t), intent(inout) :: ref
    type(c_ptr) :: addr
    integer(c_size_t) :: n
    rc = c_bytes(x, cstr('relay_put'), addr, n)
    if (rc == RELAY_OK) rc = chk(c_put(addr, n, ref))
  end function

  ! A typed array (integer, real, complex of any rank; a scalar is one element).
  integer(c_int) function relay_put_array(x, ref) result(rc)
    type(*), dimension(..), intent(in), contiguous :: x
    type(relay_ref_t), intent(inout) :: ref
    rc = c_put_array(x, ref)
  end function

  ! Bytes and contained refs (kept alive as long as the object is).
  integer(c_int) function relay_put_object(x, refs, ref) result(rc)
    type(*), dimension(..), intent(in), contiguous :: x
    type(relay_ref_t), intent(in) :: refs(:)
    type(relay_ref_t), intent(inout) :: ref
    type(c_ptr) :: addr
    integer(c_size_t) :: n
    type(relay_ref_t) :: r(max(size(refs), 1))
    r(1:size(refs)) = refs
    rc = c_bytes(x, cstr('relay_put_object'), addr, n)
    if (rc == RELAY_OK) rc = chk(c_put_object(addr, n, r, size(refs, kind=c_size_t), ref))
  end function

  ! Wait for the object and copy it into x (exactly its size; a typed array
  ! only into elements of its type). timeout in seconds, default forever.
  integer(c_int) function relay_get(ref, x, timeout) result(rc)
    type(relay_ref_t), intent(in) :: ref
    type(*), dimension(..), intent(inout), contiguous :: x
    real(c_double), intent(in), optional :: timeout
    rc = c_get(ref, x, timeout_or_forever(timeout))
  end function

  ! A view, for objects whose size or shape the caller does not know
  ! (relay_object_array, relay_object_copy); free it with relay_object_free.
  ! On RELAY_ERR_TASK_FAILED and the like obj is an error object.
  integer(c_int) function relay_get_object(ref, obj, timeout) result(rc)
    type(relay_ref_t), intent(in) :: ref
    type(relay_object_t), intent(inout) :: obj
    real(c_double), intent(in), optional :: timeout
    rc = chk(c_get_object(ref, timeout_or_forever(timeout), obj%p))
  end function

  ! Wait for num_ready of refs (relay_wait of relay.h); ready(i) tells
  ! which, n_ready how many. ready may have any size: ready(i) for
  ! i <= size(refs) is the flag of refs(i), the rest (no ref there) are set
  ! .false., so that count(ready) is n_ready whenever ready covers refs.
  ! Both are written on success and, as relay.h's relay_wait does, on
  ! RELAY_ERR_TIMEOUT (then the refs ready by then, fewer than num_ready);
  ! on any other failure they keep their values.
  integer(c_int) function relay_wait(refs, num_ready, timeout, ready, n_ready) result(rc)
    type(relay_ref_t), intent(in) :: refs(:)
    integer, intent(in) :: num_ready
    real(c_double), intent(in), optional :: timeout
    logical, intent(inout), optional :: ready(:)
    integer, intent(inout), optional :: n_ready
    integer(c_int) :: flags(max(size(refs), 1))
    integer(c_size_t) :: n
    integer :: m
    type(relay_ref_t) :: r(max(size(refs), 1))
    r(1:size(refs)) = refs
    flags = 0
    n = 0
    rc = chk(c_wait(r, size(refs, kind=c_size_t), int(num_ready, c_size_t), &
                    timeout_or_forever(timeout), flags, n))
    ! On RELAY_ERR_TIMEOUT, as in C, the flags of the refs ready by then.
    if (rc /= RELAY_OK .and. rc /= RELAY_ERR_TIMEOUT) return
    if (present(ready)) then
      m = min(size(ready), size(refs))
      ready(1:m) = flags(1:m) /= 0
      ready(m + 1:) = .false.
    end if
    if (present(n_ready)) n_ready = int(n)
  end function

  integer(c_int) function release_1(ref) result(rc)
    type(relay_ref_t), intent(in) :: ref
    rc = chk(c_release(ref))
  end function

  integer(c_int) function release_n(refs) result(rc)
    type(relay_ref_t), intent(in) :: refs(:)
    type(relay_ref_t) :: r(max(size(refs), 1))
    r(1:size(refs)) = refs
    rc = chk(c_release_many(r, size(refs, kind=c_size_t)))
  end function

  integer(c_int) function relay_retain(ref) result(rc)
    type(relay_ref_t), intent(in) :: ref
    rc = chk(c_retain(ref))
  end function

  ! ------------------------------------------------------------------ views
  integer(c_int64_t) function relay_object_size(obj)
    type(relay_object_t), intent(in) :: obj
    relay_object_size = int(c_object_size(obj%p), c_int64_t)
  end function

  integer(c_int64_t) function relay_object_num_refs(obj)
    type(relay_object_t), intent(in) :: obj
    relay_object_num_refs = int(c_object_num_refs(obj%p), c_int64_t)
  end function

  ! The i-th contained ref, 1-based (borrowed: relay_retain it to keep it).
  integer(c_int) function relay_object_ref(obj, i, ref) result(rc)
    type(relay_object_t), intent(in) :: obj
    integer, intent(in) :: i
    type(relay_ref_t), intent(inout) :: ref
    rc = chk(c_object_ref(obj%p, idx(i), ref))
  end function

  ! Type and shape in Fortran order: dims(1:ndims) is the shape of the
  ! Fortran array (relay's C dims reversed); plain bytes: RELAY_DTYPE_BYTES,
  ! 1, [size].
  integer(c_int) function relay_object_array(obj, dtype, ndims, dims) result(rc)
    type(relay_object_t), intent(in) :: obj
    integer, intent(out) :: dtype, ndims
    integer(c_int64_t), intent(out) :: dims(RELAY_MAX_DIMS)
    integer(c_int) :: t, n
    integer(c_int64_t) :: d(RELAY_MAX_DIMS)
    d = 0
    rc = chk(c_object_array(obj%p, t, n, d))
    if (rc /= RELAY_OK) return
    dtype = t
    ndims = n
    dims = 0
    dims(1:n) = d(n:1:-1)
  end function

  integer(c_int) function relay_object_copy(obj, x) result(rc)
    type(relay_object_t), intent(in) :: obj
    type(*), dimension(..), intent(inout), contiguous :: x
    rc = c_object_copy(obj%p, x)
  end function

  integer(c_int) function relay_object_status(obj) result(rc)
    type(relay_object_t), intent(in) :: obj
    rc = chk(c_object_status(obj%p))
  end function

  ! The error message of an error object, '' otherwise.
  function relay_object_error(obj) result(s)
    type(relay_object_t), intent(in) :: obj
    character(len=:), allocatable :: s
    s = c_string(c_object_error(obj%p))
  end function

  integer(c_int) function relay_object_free(obj) result(rc)
    type(relay_object_t), intent(inout) :: obj
    rc = chk(c_object_free(obj%p))
    if (rc == RELAY_OK) obj%p = c_null_ptr
  end function

  integer(c_int) function relay_object_save(obj, path, dataset) result(rc)
    type(relay_object_t), intent(in) :: obj
    character(len=*), intent(in) :: path, dataset
    rc = chk(c_object_save(obj%p, cstr(path), cstr(dataset)))
  end function

  ! ------------------------------------------------------- inside a task
  integer function relay_ctx_num_args(ctx)
    type(c_ptr), intent(in) :: ctx
    relay_ctx_num_args = int(c_ctx_num_args(ctx))
  end function

  integer function relay_ctx_num_returns(ctx)
    type(c_ptr), intent(in) :: ctx
    relay_ctx_num_returns = int(c_ctx_num_returns(ctx))
  end function

  ! 1-based indices from here on: argument i is args(i) of the submit.
  integer(c_size_t) function idx(i)
    integer, intent(in) :: i
    idx = huge(0_c_size_t) ! out of range for relay
    if (i >= 1) idx = int(i - 1, c_size_t)
  end function

  ! Copy argument i into x (exactly its size; a typed array only into
  ! elements of its type).
  integer(c_int) function relay_ctx_arg(ctx, i, x) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(*), dimension(..), intent(inout), contiguous :: x
    rc = c_ctx_arg(ctx, idx(i), x)
  end function

  integer(c_int) function relay_ctx_arg_size(ctx, i, nbytes) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    integer(c_int64_t), intent(out) :: nbytes
    type(c_ptr) :: data
    integer(c_size_t) :: n
    rc = chk(c_ctx_arg_raw(ctx, idx(i), data, n))
    if (rc == RELAY_OK) nbytes = int(n, c_int64_t)
  end function

  ! Argument i as a view owned by the task (do not free it).
  integer(c_int) function relay_ctx_arg_object(ctx, i, obj) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(relay_object_t), intent(inout) :: obj
    rc = chk(c_ctx_arg_object(ctx, idx(i), obj%p))
  end function

  integer(c_int) function relay_ctx_arg_ref(ctx, i, ref) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(relay_ref_t), intent(inout) :: ref
    rc = chk(c_ctx_arg_ref(ctx, idx(i), ref))
  end function

  ! Return i as plain bytes of x.
  integer(c_int) function relay_ctx_return(ctx, i, x) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(*), dimension(..), intent(in), contiguous :: x
    type(c_ptr) :: addr
    integer(c_size_t) :: n
    rc = c_bytes(x, cstr('relay_ctx_return'), addr, n)
    if (rc == RELAY_OK) rc = chk(c_ctx_return(ctx, idx(i), addr, n))
  end function

  ! Return i as a typed array (as relay_put_array).
  integer(c_int) function relay_ctx_return_array(ctx, i, x) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(*), dimension(..), intent(in), contiguous :: x
    rc = c_ctx_return_array(ctx, idx(i), x)
  end function

  integer(c_int) function relay_ctx_return_object(ctx, i, x, refs) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(in) :: i
    type(*), dimension(..), intent(in), contiguous :: x
    type(relay_ref_t), intent(in) :: refs(:)
    type(c_ptr) :: addr
    integer(c_size_t) :: n
    type(relay_ref_t) :: r(max(size(refs), 1))
    r(1:size(refs)) = refs
    rc = c_bytes(x, cstr('relay_ctx_return_object'), addr, n)
    if (rc == RELAY_OK) &
      rc = chk(c_ctx_return_object(ctx, idx(i), addr, n, r, size(refs, kind=c_size_t)))
  end function

  ! Fail the task with a reason (trailing blanks dropped); then return.
  integer(c_int) function relay_ctx_fail(ctx, msg) result(rc)
    type(c_ptr), intent(in) :: ctx
    character(len=*), intent(in) :: msg
    rc = c_ctx_fail(ctx, cstr(msg))
  end function

  integer(c_int) function relay_ctx_rank(ctx, rank) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer, intent(out) :: rank
    integer(c_int) :: r
    rc = chk(c_ctx_rank(ctx, r))
    if (rc == RELAY_OK) rank = r
  end function

  integer(c_int) function relay_ctx_task_id(ctx, id) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer(c_int64_t), intent(out) :: id
    rc = chk(c_ctx_task_id(ctx, id))
  end function

  logical function relay_ctx_cancelled(ctx)
    type(c_ptr), intent(in) :: ctx
    relay_ctx_cancelled = c_ctx_cancelled(ctx) /= 0
  end function

  integer(c_int) function relay_ctx_actor(ctx, actor) result(rc)
    type(c_ptr), intent(in) :: ctx
    type(relay_actor_t), intent(inout) :: actor
    rc = chk(c_ctx_actor(ctx, actor))
  end function

  ! ids(1:min(size(ids), n)) are the task's GPUs (CUDA ordinals), n how many.
  integer(c_int) function relay_ctx_gpu_ids(ctx, ids, n) result(rc)
    type(c_ptr), intent(in) :: ctx
    integer(c_int), intent(out) :: ids(:)
    integer, intent(out) :: n
    integer(c_int) :: buf(max(size(ids), 1))
    integer(c_size_t) :: m
    rc = chk(c_ctx_gpu_ids(ctx, buf, size(ids, kind=c_size_t), m))
    if (rc /= RELAY_OK) return
    n = int(m)
    ids = buf(1:size(ids))
  end function

  ! ---------------------------------------------------------- introspection
  integer(c_int64_t) function relay_dtype_size(dtype)
    integer, intent(in) :: dtype
    relay_dtype_size = int(c_dtype_size(int(dtype, c_int)), c_int64_t)
  end function

  integer(c_int) function relay_stats(stats) result(rc)
    type(relay_stats_t), intent(out) :: stats
    rc = chk(c_stats(stats))
  end function

  integer(c_int) function relay_local_resources(res) result(rc)
    type(relay_resources_t), intent(out) :: res
    rc = chk(c_local_resources(res))
  end function

  integer(c_int) function relay_resource_capacity(rank, name, quantity) result(rc)
    integer, intent(in) :: rank
    character(len=*), intent(in) :: name
    real(c_double), intent(out) :: quantity
    rc = chk(c_resource_capacity(int(rank, c_int), cstr(name), quantity))
  end function

  integer(c_int) function relay_sync(timeout) result(rc)
    real(c_double), intent(in), optional :: timeout
    rc = chk(c_sync(timeout_or_forever(timeout)))
  end function
end module relay
