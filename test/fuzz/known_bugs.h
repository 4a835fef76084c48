/* Records that trigger bugs already found and reported (see known_bugs.c). */
#ifndef RELAY_FUZZ_KNOWN_BUGS_H
#define RELAY_FUZZ_KNOWN_BUGS_H

#include <stddef.h>
#include <stdint.h>

/* The short name of the known bug a record of type with this payload
 * triggers, or NULL. */
const char *fuzz_known_bug(uint8_t type, const uint8_t *payload, size_t n);
/* Forget the records seen so far (a new input begins). */
void fuzz_known_reset(void);

#endif
