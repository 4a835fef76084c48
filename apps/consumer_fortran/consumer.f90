! Smallest relay program in Fortran: square a number in a task, the twin of
! apps/consumer/consumer.c, built against an installed relay:
!   find_package(relay) + relay::relay_fortran, or
!   gfortran consumer.f90 $(pkg-config --cflags --libs relay-fortran)
module consumer_tasks
  use, intrinsic :: iso_c_binding
  use relay
  implicit none
contains
  integer(c_int) function square(ctx) bind(C)
    type(c_ptr), value :: ctx
    integer(c_int) :: x
    square = relay_ctx_arg(ctx, 1, x)
    if (square == RELAY_OK) square = relay_ctx_return(ctx, 1, x*x)
  end function
end module

program consumer
  use consumer_tasks
  implicit none
  integer(c_int) :: rc, x = 7, y = 0
  integer :: rank
  type(relay_ref_t) :: ref
  rc = relay_register('square', square)
  if (rc == RELAY_OK) rc = relay_init()
  if (rc /= RELAY_OK) then
    write (0, '(a)') 'relay_init: '//relay_last_error()
    error stop 1
  end if
  rc = relay_rank(rank)
  if (rank == 0) then
    rc = relay_submit('square', [relay_arg_value(x)], ref)
    if (rc == RELAY_OK) rc = relay_get(ref, y)
    if (rc == RELAY_OK) rc = relay_release(ref)
    if (rc == RELAY_OK) then
      print '(a,i0,a,i0)', 'square(', x, ') = ', y
    else
      write (0, '(a)') 'square: '//relay_last_error()
    end if
  end if
  if (relay_finalize() /= RELAY_OK .or. rc /= RELAY_OK) error stop 1
end program
