/* Remote functions and an actor class registered by both the fuzz targets
 * and the corpus driver. The TASK and SUBMIT records of the seed corpus
 * carry these names' hashes, so a task the fuzzer sends runs real code on
 * rank 0's workers instead of failing as an unknown function.
 *
 * Every function is quick, and every wait it makes is bounded by
 * FUZZ_WAIT_MAX_S: a fuzz input must finish well within libFuzzer's
 * -timeout whatever arguments the fuzzer gives. */
#ifndef RELAY_FUZZ_FUNCS_H
#define RELAY_FUZZ_FUNCS_H

#include "relay.h"

#define FUZZ_WAIT_MAX_S 0.05
#define FUZZ_SLEEP_MAX_MS 50

/* Names, shared by both sides. */
#define FUZZ_FN_ECHO "fuzz_echo"     /* return i: a copy of argument i mod nargs */
#define FUZZ_FN_FAIL "fuzz_fail"     /* fails */
#define FUZZ_FN_PUT "fuzz_put"       /* puts argument 0, returns an object containing it */
#define FUZZ_FN_GET "fuzz_get"       /* gets, retains, releases the refs among its values */
#define FUZZ_FN_SLEEP "fuzz_sleep"   /* sleeps argument 0 (u32 ms, clamped), returns it */
#define FUZZ_FN_NESTED "fuzz_nested" /* submits fuzz_echo and gets its result */
#define FUZZ_FN_ACTOR "fuzz_actor"   /* calls, looks up, kills the actor in argument 0 */
#define FUZZ_CLASS "FuzzCounter"     /* methods: add, get, wait */

/* Register the functions and the class. Returns the first failing status. */
int fuzz_register(void);

#endif
