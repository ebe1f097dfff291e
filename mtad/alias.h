/*
 * /etc/aliases: parsing, checking (newaliases, mtad-sendmail -bi) and
 * expansion of a local name into what local delivery acts on.
 *
 *	# comment
 *	postmaster: root
 *	staff: alice, bob@example.org, \carol,
 *		"|/usr/bin/vacation carol", /var/log/staff.mbox
 *	list: :include:/etc/mail/list.members
 *
 * Names are case-insensitive.  A line starting with white space continues
 * the entry above.  Targets are separated by commas; double quotes protect
 * commas and spaces ("|cmd a, b").  A target is a local name (expanded
 * again), \name (a user, never expanded), name@local.domain (the same as
 * name), user@other.domain (remote), |command, /file, or :include:/path (a
 * file of targets, one or more a line, # comments).
 */
#ifndef MTAD_ALIAS_H
#define MTAD_ALIAS_H

#include <stdio.h>
#include <sys/types.h>

#include "config.h"

#define ALIAS_MAX_DEPTH		16	/* nested expansions */
#define ALIAS_MAX_TARGETS	1000	/* targets of one name */
#define ALIAS_MAX_LINE		8192	/* one physical line */
#define ALIAS_MAX_FILE		(4 * 1024 * 1024)

enum alias_kind { ALIAS_USER, ALIAS_FILE, ALIAS_PIPE, ALIAS_REMOTE };

struct alias_target {
	enum alias_kind	 kind;
	const char	*value;		/* user name, path, command, address */
	/*
	 * Where a file or pipe target came from: the aliases file
	 * (from_include 0) or an :include: file owned by include_uid.
	 * Local delivery decides whose rights a file or pipe runs with.
	 */
	int		 from_include;
	uid_t		 include_uid;
	gid_t		 include_gid;
};

enum alias_result { ALIAS_OK, ALIAS_TEMPFAIL, ALIAS_PERMFAIL };

struct alias_table;

/*
 * Read and parse an aliases file.  Every malformed line is reported to
 * errout (if not NULL) as "file:line: message" and skipped; *nerrors counts
 * them.  A missing file is an empty table.  NULL (errno) when the file
 * cannot be read.
 */
struct alias_table *alias_load(const char *path, FILE *errout, int *nerrors);
void	alias_free(struct alias_table *t);

/* Is name (any case) an alias? */
int	alias_exists(const struct alias_table *t, const char *name);
size_t	alias_count(const struct alias_table *t);

/*
 * newaliases: parse path and the :include: files it names, report errors
 * as "file:line: message" to errout.  Returns the number of errors (0: the
 * file is good), or -1 when path cannot be read (reported too).
 */
int	alias_check(const char *path, FILE *errout);

/*
 * Expand a local name.  cb is called once for every distinct target; a
 * name that is no alias yields itself as ALIAS_USER.  A target address in
 * one of cf's local domains is treated as a local name; cf may be NULL
 * (then only bare names are local).  A non-zero return from cb stops the
 * expansion (ALIAS_TEMPFAIL).  A loop, too deep a nesting or too many
 * targets is ALIAS_PERMFAIL, an unreadable :include: ALIAS_TEMPFAIL, with
 * the reason in err ("5.4.6 alias loop: a -> b -> a" style, an enhanced
 * status code first).
 */
typedef int (*alias_cb)(const struct alias_target *target, void *arg);
enum alias_result alias_expand(const struct alias_table *t,
	    const struct mtad_config *cf, const char *name, alias_cb cb,
	    void *arg, char *err, size_t errlen);

#endif
