# mailhub: GNU make, no autotools.
#
#   make            build everything (objects in build/, programs beside their sources)
#   make check      install missing packages, rebuild under ASan+UBSan in build-san/,
#                   run every test with prove
#   make run        start a demo hub under ./run/
#   make install    PREFIX (default /usr/local) and DESTDIR honoured
#   make bench      benchmarks under t/bench/ (print figures, never pass/fail)
#   make fuzz       build the libFuzzer harnesses under t/fuzz/ (clang)
#   make fuzz-smoke run each harness FUZZ_SECONDS (60); fails on a crash,
#                   leak or timeout

PREFIX	?= /usr/local
DESTDIR	?=
CC	?= cc

# O is where objects go, B where programs go.  The sanitizer build sets both to
# build-san/ so it never mixes with the normal build.
O	?= build
B	?= .

PKGS	:= openssl libcurl jansson cmocka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libetpan 2>/dev/null)
# libetpan is linked statically: the shared library drags GnuTLS (whose
# load-time initialisation alone makes 3 MB of every daemon resident) and
# Berkeley DB in for code we never call, since all our TLS is OpenSSL.  The
# objects we use need only liblockfile and Cyrus SASL.  (libetpan.pc's
# --static list carries Debian's no-PIE link specs, so it is not used.)
ETPAN_LIBS := -Wl,-Bstatic -letpan -Wl,-Bdynamic -llockfile -lsasl2
PKG_LIBS := $(shell pkg-config --libs openssl 2>/dev/null) $(ETPAN_LIBS) -lz
# Only mtad-oauth2 (and tests) link libcurl and jansson: the daemons run it
# (common/oauth2_exec.c), and an accidental use in a daemon fails the link.
HTTP_LIBS := $(shell pkg-config --libs libcurl jansson 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS	?= -O2 -g
WFLAGS	:= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	   -Wno-unused-parameter -Icommon $(PKG_CFLAGS)
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
ALL_CFLAGS = $(WFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# Every .c in a program directory that does not hold a main() goes into that
# program's library, so a new module needs no Makefile edit.
MTAD_MAINS	:= mtad/mtad.c mtad/mtactl.c mtad/sendmail.c mtad/oauth2_main.c
FETCHD_MAINS	:= fetchd/fetchd.c
COMMON_SRC	:= $(wildcard common/*.c)
MTAD_SRC	:= $(filter-out $(MTAD_MAINS),$(wildcard mtad/*.c))
FETCHD_SRC	:= $(filter-out $(FETCHD_MAINS),$(wildcard fetchd/*.c))
UNIT_SRC	:= $(wildcard t/unit/test_*.c)
UNIT_HELPER_SRC	:= $(filter-out $(UNIT_SRC),$(wildcard t/unit/*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBMAILHUB	:= $(O)/common/libmailhub.a
LIBMTAD		:= $(O)/mtad/libmtad.a
LIBFETCHD	:= $(O)/fetchd/libfetchd.a

# A program is built once its main source exists.
PROGS := $(if $(wildcard mtad/mtad.c),$(B)/mtad/mtad) \
	 $(if $(wildcard mtad/mtactl.c),$(B)/mtad/mtactl) \
	 $(if $(wildcard mtad/sendmail.c),$(B)/mtad/mtad-sendmail) \
	 $(if $(wildcard mtad/oauth2_main.c),$(B)/mtad/mtad-oauth2) \
	 $(if $(wildcard fetchd/fetchd.c),$(B)/fetchd/fetchd)
# Unit test binaries stay under the object dir: never in the source tree,
# where prove -r t/ would pick up stale ones.
UNITS := $(patsubst t/unit/test_%.c,$(O)/t/unit/%.t,$(UNIT_SRC))
PROG_LIBS := $(LIBMTAD) $(LIBFETCHD) $(LIBMAILHUB)

.PHONY: all progs units deps check run install install-compat clean bench fuzz fuzz-smoke
all: progs
progs: $(PROGS)
units: $(UNITS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBMAILHUB): $(call obj,$(COMMON_SRC))
$(LIBMTAD): $(call obj,$(MTAD_SRC))
$(LIBFETCHD): $(call obj,$(FETCHD_SRC))
$(LIBMAILHUB) $(LIBMTAD) $(LIBFETCHD):
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(O)/empty.o)

$(O)/empty.o:
	@mkdir -p $(@D)
	echo 'typedef int mailhub_empty_unit;' | $(CC) $(ALL_CFLAGS) -x c -c - -o $@
$(LIBMAILHUB) $(LIBMTAD) $(LIBFETCHD): | $(O)/empty.o

$(B)/mtad/mtad: $(O)/mtad/mtad.o $(PROG_LIBS)
$(B)/mtad/mtactl: $(O)/mtad/mtactl.o $(PROG_LIBS)
$(B)/mtad/mtad-sendmail: $(O)/mtad/sendmail.o $(PROG_LIBS)
$(B)/fetchd/fetchd: $(O)/fetchd/fetchd.o $(PROG_LIBS)
$(B)/mtad/mtad-oauth2: $(O)/mtad/oauth2_main.o $(PROG_LIBS)
$(B)/mtad/mtad-oauth2: PKG_LIBS += $(HTTP_LIBS)
# Where the daemons look for mtad-oauth2 when it is not beside them.
$(O)/common/oauth2_exec.o: ALL_CFLAGS += -DMAILHUB_BINDIR='"$(BINDIR)"'
$(PROGS):
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(PROG_LIBS) $(PKG_LIBS)

# Test-only programs the integration tests drive (t/common/*.c, each with its
# own main), built with the unit tests.
TEST_PROGS := $(patsubst t/common/%.c,$(B)/t/common/%,$(wildcard t/common/*.c))
units: $(TEST_PROGS)
$(B)/t/common/%: $(O)/t/common/%.o $(PROG_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(PROG_LIBS) $(PKG_LIBS) $(HTTP_LIBS)

# The fault tests' LD_PRELOAD shim (t/lib/faultfs.c): never sanitized, so
# it loads beside an ASan program (which then needs
# ASAN_OPTIONS=verify_asan_link_order=0; t/lib/faultfs.py sets it).
FAULTFS := $(B)/t/lib/faultfs.so
units: $(FAULTFS)
$(FAULTFS): t/lib/faultfs.c
	@mkdir -p $(@D)
	$(CC) $(WFLAGS) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# Every fuzz harness again, with a plain main() (t/fuzz/driver.c) instead of
# libFuzzer: t/fuzz/regress.t replays each corpus through them.  Like the
# libFuzzer build they link only common/; harnesses include what else they need.
FUZZ_REGRESS := $(patsubst t/fuzz/fuzz_%.c,$(B)/t/fuzz/fuzz_%,$(wildcard t/fuzz/fuzz_*.c))
units: $(FUZZ_REGRESS)
$(B)/t/fuzz/fuzz_%: $(O)/t/fuzz/fuzz_%.o $(O)/t/fuzz/driver.o $(LIBMAILHUB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(HTTP_LIBS)

$(O)/t/unit/%.t: $(O)/t/unit/test_%.o $(call obj,$(UNIT_HELPER_SRC)) $(PROG_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(call obj,$(UNIT_HELPER_SRC)) $(PROG_LIBS) $(PKG_LIBS) $(HTTP_LIBS) $(CMOCKA_LIBS)

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# --- dependencies -----------------------------------------------------------

# deps installs what is missing and is quick when nothing is: dpkg-query first,
# apt only for the rest.  libetpan-dev brings libcurl4-gnutls-dev; never ask for
# libcurl4-openssl-dev, which conflicts with it.
BUILD_DEBS := gcc make pkg-config libssl-dev libetpan-dev libcurl4-gnutls-dev \
	      libjansson-dev libcmocka-dev zlib1g-dev
TEST_DEBS  := dovecot-core dovecot-pop3d dovecot-imapd python3-aiosmtpd swaks \
	      openssl strace man-db groff-base
deps:
	@missing=$$(for p in $(BUILD_DEBS) $(TEST_DEBS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing packages; as root run: apt-get install -y" $$missing; exit 1; fi; \
	echo "installing:" $$missing; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q $$missing >/dev/null 2>&1 || \
	{ apt-get update -q && apt-get install -y -q $$missing; }

# --- tests ------------------------------------------------------------------

# The whole suite runs against the sanitizer build.  Sanitizer reports from any
# process (daemons included) land in build-san/sanitizer/; one file there fails
# the run even if every test passed.
SANDIR := $(CURDIR)/build-san
check: deps
	$(MAKE) O=build-san/obj B=build-san SAN=1 progs units
	$(MAKE) progs
	rm -rf $(SANDIR)/sanitizer && mkdir -p $(SANDIR)/sanitizer
	MAILHUB_BIN=$(SANDIR) MAILHUB_SRC=$(CURDIR) \
	ASAN_OPTIONS=log_path=$(SANDIR)/sanitizer/asan:detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=log_path=$(SANDIR)/sanitizer/ubsan:print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp:print_suppressions=0 \
	prove -v -r -j2 --timer t/ build-san/obj/t/unit/
	@if [ -n "$$(ls -A $(SANDIR)/sanitizer)" ]; then \
		echo "sanitizer reports:"; cat $(SANDIR)/sanitizer/*; exit 1; fi

bench: all
	@for b in t/bench/*; do [ -x "$$b" ] && { echo "== $$b"; MAILHUB_BIN=$(CURDIR) MAILHUB_SRC=$(CURDIR) "$$b" || exit 1; }; done; true

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C t/fuzz build
fuzz-smoke:
	$(MAKE) -C t/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) all

# --- demo -------------------------------------------------------------------

run: deps all
	@if [ ! -x mtad/mtad ]; then echo "make run: mtad is not built yet (no mtad/mtad.c)"; exit 1; fi
	@sh t/lib/demo.sh

# --- install ----------------------------------------------------------------

BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
DOCDIR		?= $(PREFIX)/share/doc/mailhub
UNITDIR		?= $(PREFIX)/lib/systemd/system
SYSCONFDIR	?= /etc
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
D := $(DESTDIR)

install: all
	install -d $(D)$(BINDIR) $(D)$(SBINDIR) $(D)$(MANDIR)/man1 \
	    $(D)$(MANDIR)/man5 $(D)$(MANDIR)/man8 $(D)$(DOCDIR)/samples \
	    $(D)$(DOCDIR)/rc $(D)$(UNITDIR) $(D)$(SYSCONFDIR)/ppp/ip-up.d \
	    $(D)$(SYSCONFDIR)/ppp/ip-down.d \
	    $(D)$(SYSCONFDIR)/NetworkManager/dispatcher.d
	for p in $(filter-out %/mtad-oauth2,$(filter $(B)/mtad/%,$(PROGS))); do \
		install -m 755 $$p $(D)$(SBINDIR)/; done
	# users run mtad-oauth2 authorize; the daemons find it in BINDIR
	for p in $(filter $(B)/fetchd/% %/mtad-oauth2,$(PROGS)); do \
		install -m 755 $$p $(D)$(BINDIR)/; done
	for m in $(wildcard mtad/*.[158] fetchd/*.[158]); do \
		install -m 644 $$m $(D)$(MANDIR)/man$${m##*.}/; done
	install -m 644 README $(D)$(DOCDIR)/
	install -m 644 $(wildcard samples/*) $(D)$(DOCDIR)/samples/
	for f in rc/*.service; do \
		$(SUBST) $$f > $(D)$(UNITDIR)/$${f#rc/}; done
	for f in rc/rc.*; do $(SUBST) $$f > $(D)$(DOCDIR)/rc/$${f#rc/}; \
		chmod 755 $(D)$(DOCDIR)/rc/$${f#rc/}; done
	# pppd's PATH has no /usr/local/bin: the hooks get full paths
	for h in ip-up ip-down; do $(SUBST) -e 's|^MTACTL=mtactl$$|MTACTL=$(SBINDIR)/mtactl|' \
	    -e 's|^FETCHD=fetchd$$|FETCHD=$(BINDIR)/fetchd|' \
	    -e 's|^MTAD_CONF=/etc/|MTAD_CONF=$(SYSCONFDIR)/|' ppp/$$h.d/mailhub \
	    > $(D)$(SYSCONFDIR)/ppp/$$h.d/mailhub; \
	    chmod 755 $(D)$(SYSCONFDIR)/ppp/$$h.d/mailhub; done
	sed -e 's|/etc/ppp/|$(SYSCONFDIR)/ppp/|g' ppp/nm-dispatcher/90-mailhub \
	    > $(D)$(SYSCONFDIR)/NetworkManager/dispatcher.d/90-mailhub
	chmod 755 $(D)$(SYSCONFDIR)/NetworkManager/dispatcher.d/90-mailhub
	@if [ -z "$(DESTDIR)" ]; then \
		id mtad >/dev/null 2>&1 || useradd --system --user-group \
		    --home-dir /var/spool/mtad --shell /usr/sbin/nologin mtad; \
		install -d -o mtad -g mtad -m 755 /var/spool/mtad; \
		install -d -m 755 $(SYSCONFDIR)/mtad; \
	fi

install-compat: install
	ln -sf $(SBINDIR)/mtad-sendmail $(D)$(SBINDIR)/sendmail
	ln -sf $(SBINDIR)/mtad-sendmail $(D)$(BINDIR)/mailq
	ln -sf $(SBINDIR)/mtad-sendmail $(D)$(BINDIR)/newaliases

clean:
	rm -rf build build-san run
	rm -f mtad/mtad mtad/mtactl mtad/mtad-sendmail mtad/mtad-oauth2 fetchd/fetchd
