! relay-pi-fortran: the Monte Carlo estimate of pi of apps/pi, in Fortran.
!
! The same tasks and the same counter-based generator (splitmix64 keyed by
! the task index), so for the same -n and -m it prints the same estimate as
! relay-pi, digit for digit. Unsigned 64-bit arithmetic is done in
! integer(int64) with wrap-around (built with -fwrapv).
!
! Usage: mpirun -np 3 relay-pi-fortran [-n tasks] [-m samples_per_task]
module pi_tasks
  use, intrinsic :: iso_c_binding
  use relay
  implicit none
  integer(c_int64_t), parameter :: MIX1 = -4658895280553007687_c_int64_t, &
    MIX2 = -7723592293110705685_c_int64_t, GOLDEN = -7046029254386353131_c_int64_t, &
    SEED = 491327873401_c_int64_t
contains
  pure integer(c_int64_t) function mix(z0)
    integer(c_int64_t), intent(in) :: z0
    integer(c_int64_t) :: z
    z = ieor(z0, shiftr(z0, 30))*MIX1
    z = ieor(z, shiftr(z, 27))*MIX2
    mix = ieor(z, shiftr(z, 31))
  end function

  pure real(c_double) function unit(x)
    integer(c_int64_t), intent(in) :: x
    unit = real(shiftr(x, 11), c_double)*2.0_c_double**(-53)
  end function

  ! pi_sample(task_index, samples) -> hits
  integer(c_int) function pi_sample(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int64_t) :: index, samples, hits, key, s
    real(c_double) :: x, y
    pi_sample = relay_ctx_arg(ctx, 1, index)
    if (pi_sample == RELAY_OK) pi_sample = relay_ctx_arg(ctx, 2, samples)
    if (pi_sample /= RELAY_OK) return
    key = mix(ieor(index, SEED))
    hits = 0
    do s = 0, samples - 1
      x = unit(mix(key + (2*s + 1)*GOLDEN))
      y = unit(mix(key + (2*s + 2)*GOLDEN))
      if (x*x + y*y < 1.0_c_double) hits = hits + 1
    end do
    pi_sample = relay_ctx_return(ctx, 1, hits)
  end function

  ! sum2(ref a, ref b) -> a + b
  integer(c_int) function sum2(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int64_t) :: a, b
    sum2 = relay_ctx_arg(ctx, 1, a)
    if (sum2 == RELAY_OK) sum2 = relay_ctx_arg(ctx, 2, b)
    if (sum2 == RELAY_OK) sum2 = relay_ctx_return(ctx, 1, a + b)
  end function
end module

program pi_fortran
  use pi_tasks
  implicit none
  real(c_double), parameter :: PI = 3.14159265358979323846_c_double
  integer(c_int64_t) :: ntasks = 64, samples = 1000000, hits, i
  type(relay_ref_t), allocatable :: refs(:)
  type(relay_ref_t) :: total
  integer :: rank, live, next, k, failed
  integer(c_int) :: rc
  real(c_double) :: est
  character(len=32) :: arg

  k = 1
  do while (k <= command_argument_count())
    call get_command_argument(k, arg)
    if (arg == '-n' .or. arg == '-m') then
      call get_command_argument(k + 1, arg(3:))
      if (arg(1:2) == '-n') read (arg(3:), *) ntasks
      if (arg(1:2) == '-m') read (arg(3:), *) samples
      k = k + 2
    else
      write (0, '(a)') 'usage: relay-pi-fortran [-n tasks] [-m samples per task]'
      stop 2
    end if
  end do

  failed = 0
  rc = relay_register('pi_sample', pi_sample)
  if (rc == RELAY_OK) rc = relay_register('sum2', sum2)
  if (rc == RELAY_OK) rc = relay_init()
  if (rc == RELAY_OK) rc = relay_rank(rank)
  if (rc /= RELAY_OK) call die('relay_init')

  if (rank == 0) then
    allocate (refs(ntasks))
    do i = 1, ntasks
      rc = relay_submit('pi_sample', [relay_arg_value(i - 1), relay_arg_value(samples)], refs(i))
      if (rc /= RELAY_OK) call die('submit pi_sample')
    end do
    ! Tree reduction, pairs in the same order as relay-pi.
    live = int(ntasks)
    do while (live > 1)
      next = 0
      do k = 1, live - 1, 2
        rc = relay_submit('sum2', [relay_arg_ref(refs(k)), relay_arg_ref(refs(k + 1))], total)
        if (rc /= RELAY_OK) call die('submit sum2')
        if (relay_release(refs(k:k + 1)) /= RELAY_OK) call die('release')
        next = next + 1
        refs(next) = total
      end do
      if (mod(live, 2) == 1) then
        next = next + 1
        refs(next) = refs(live)
      end if
      live = next
    end do
    rc = relay_get(refs(1), hits)
    if (rc /= RELAY_OK) call die('get of the total')
    if (relay_release(refs(1)) /= RELAY_OK) call die('release')
    deallocate (refs) ! a main program's allocatables outlive it otherwise
    est = 4.0_c_double*real(hits, c_double)/(real(ntasks, c_double)*real(samples, c_double))
    write (*, '(a,f10.8,a,es9.2)') 'pi ~= ', est, '  error ', est - PI
    write (*, '(a,i0,a,i0,a,i0)') 'hits: ', hits, ' of ', ntasks, ' x ', samples
    if (abs(est - PI) > 0.05_c_double) failed = 1
  end if
  if (relay_finalize() /= RELAY_OK) call die('relay_finalize')
  if (failed /= 0) error stop 'relay-pi-fortran: implausible estimate'

contains
  subroutine die(what)
    character(len=*), intent(in) :: what
    write (0, '(a,a,a,a,a,a)') 'relay-pi-fortran: ', what, ': ', relay_strerror(rc), ' (', &
      relay_last_error()//')'
    error stop 1
  end subroutine
end program
