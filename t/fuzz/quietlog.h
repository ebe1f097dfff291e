/*
 * For harnesses whose code under test logs its complaints: nothing goes
 * to stderr (a 60 s run would write gigabytes and spend its time doing
 * it); the messages are still formatted.  Set before the first input.
 */
#ifndef FUZZ_QUIETLOG_H
#define FUZZ_QUIETLOG_H

#include "log.h"

static void __attribute__((constructor))
fuzz_quiet_log(void)
{
	log_init("fuzz", 0, 0);
}

#endif
