/* fetchmail rc files as fetchd reads them: structure, lexing, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../fetchd/rcfile.h"

static const struct rc_env env_eddy = { "eddy", "/home/eddy", 0 };

static char errbuf[1024];

static void
parse_ok(struct rc_config *cfg, const char *text)
{
	int	 rv;

	rc_init(cfg);
	errbuf[0] = '\0';
	rv = rc_parse_buf(cfg, "/etc/rc", text, strlen(text), errbuf,
	    sizeof(errbuf));
	if (rv != PS_SUCCESS)
		fail_msg("unexpected error: %s", errbuf);
}

static void
finish_ok(struct rc_config *cfg, const struct rc_poll *cmd)
{
	assert_int_equal(rc_select(cfg, NULL, 0, errbuf, sizeof(errbuf)),
	    PS_SUCCESS);
	assert_int_equal(rc_finish(cfg, cmd, NULL, &env_eddy, errbuf,
	    sizeof(errbuf)), PS_SUCCESS);
}

static void
parse_fails(const char *text, const char *want)
{
	struct rc_config cfg;
	int		 rv;

	rc_init(&cfg);
	errbuf[0] = '\0';
	rv = rc_parse_buf(&cfg, "rc", text, strlen(text), errbuf,
	    sizeof(errbuf));
	if (rv != PS_SYNTAX || strstr(errbuf, want) == NULL)
		fail_msg("for %s\n  got (%d) '%s'\n  want '%s'", text, rv,
		    errbuf, want);
	rc_free(&cfg);
}

static void
assert_name(const struct rc_name *n, const char *remote, const char *local)
{
	assert_string_equal(n->remote, remote);
	if (local == NULL)
		assert_null(n->local);
	else
		assert_string_equal(n->local, local);
}

static const char seed[] =
    "set postmaster \"postmaster\"\n"
    "set no bouncemail\n"
    "poll pop.example.net with proto POP3\n"
    "       user \"shofar.example.co.uk\" there with password \"secret1\"\n"
    "       is eddy here options flush\n"
    "poll mail.example.net with proto POP3 aka shofar.example.net\n"
    "       user \"shofar\" with password \"secret2\" to eddy nelug=eddy "
    "NELUG-admin\n"
    "nelug-approval=eddy NELUG-list root keith here options flush\n";

static void
seed_file_structure(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		*p;
	struct rc_user		*u;

	parse_ok(&cfg, seed);
	assert_string_equal(cfg.run.postmaster, "postmaster");
	assert_int_equal(cfg.run.bouncemail, RC_NO);
	assert_int_equal(cfg.run.syslog, RC_UNSET);
	assert_int_equal(cfg.run.daemon, -1);
	assert_null(cfg.defaults);
	assert_int_equal(cfg.npolls, 2);

	p = &cfg.polls[0];
	assert_string_equal(p->name, "pop.example.net");
	assert_int_equal(p->line, 3);
	assert_int_equal(p->skip, 0);
	assert_int_equal(p->proto, RC_PROTO_POP3);
	assert_int_equal(p->akas.n, 0);
	assert_int_equal(p->nusers, 1);
	u = &p->users[0];
	assert_int_equal(u->line, 4);
	assert_string_equal(u->remotename, "shofar.example.co.uk");
	assert_string_equal(u->password, "secret1");
	assert_int_equal(u->nnames, 1);
	assert_name(&u->names[0], "eddy", NULL);
	assert_int_equal(u->wildcard, 0);
	assert_int_equal(u->flush, RC_YES);
	assert_int_equal(u->keep, RC_UNSET);
	assert_false(rc_user_multidrop(u));

	p = &cfg.polls[1];
	assert_string_equal(p->name, "mail.example.net");
	assert_int_equal(p->proto, RC_PROTO_POP3);
	assert_int_equal(p->akas.n, 1);
	assert_string_equal(p->akas.v[0], "shofar.example.net");
	assert_int_equal(p->nusers, 1);
	u = &p->users[0];
	assert_string_equal(u->remotename, "shofar");
	assert_string_equal(u->password, "secret2");
	assert_int_equal(u->nnames, 7);
	assert_name(&u->names[0], "eddy", NULL);
	assert_name(&u->names[1], "nelug", "eddy");
	assert_name(&u->names[2], "NELUG-admin", NULL);
	assert_name(&u->names[3], "nelug-approval", "eddy");
	assert_name(&u->names[4], "NELUG-list", NULL);
	assert_name(&u->names[5], "root", NULL);
	assert_name(&u->names[6], "keith", NULL);
	assert_int_equal(u->flush, RC_YES);
	assert_true(rc_user_multidrop(u));

	finish_ok(&cfg, NULL);
	assert_true(cfg.polls[0].active && cfg.polls[1].active);
	assert_int_equal(cfg.run.bouncemail, RC_NO);
	assert_int_equal(cfg.run.syslog, RC_NO);
	assert_int_equal(cfg.run.daemon, 0);
	assert_string_equal(cfg.run.idfile, "/home/eddy/.fetchids");
	assert_string_equal(cfg.run.pidfile, "/home/eddy/.fetchd.pid");
	p = &cfg.polls[1];
	assert_int_equal(p->auth, RC_AUTH_ANY);
	assert_int_equal(p->timeout, 300);
	assert_int_equal(p->envelope_on, RC_YES);
	assert_string_equal(p->envelope, "Received");
	u = &p->users[0];
	assert_int_equal(u->keep, RC_NO);
	assert_int_equal(u->fetchall, RC_NO);
	assert_int_equal(u->sslcertck, RC_YES);
	assert_int_equal(u->nsmtphosts, 1);
	assert_string_equal(u->smtphosts[0].host, "localhost");
	assert_int_equal(u->smtphosts[0].port, 25);
	rc_free(&cfg);
}

static void
quoting_and_escapes(void **state)
{
	struct rc_config	 cfg;
	struct rc_user		*u;

	parse_ok(&cfg,
	    "poll 'host one' user 'it is' there\n"
	    "password \"a\\x41\\101\\041\\tb\\\\c\\qd\"\n"
	    "mda \"/usr/bin/procmail \\\n-d %T\"\n"
	    "folder \"two\nlines\" bare\\x2dword\n"
	    "smtpname \"#not a comment\"\n");
	assert_string_equal(cfg.polls[0].name, "host one");
	u = &cfg.polls[0].users[0];
	assert_string_equal(u->remotename, "it is");
	/* \x41 hex, \101 decimal (not octal: fetchmail's rule), \041 octal */
	assert_string_equal(u->password, "aAe!\tb\\cqd");
	assert_string_equal(u->mda, "/usr/bin/procmail -d %T");
	assert_int_equal(u->folders.n, 2);
	assert_string_equal(u->folders.v[0], "two\nlines");
	assert_string_equal(u->folders.v[1], "bare-word");
	assert_string_equal(u->smtpname, "#not a comment");
	rc_free(&cfg);

	/* a multi-line string counts its lines: the error is on line 3 */
	parse_fails("poll a user b there password \"x\ny\"\nbogus\n",
	    "rc:3: expected a user option or a new poll entry, got 'bogus'");
}

static void
noise_words_and_punctuation(void **state)
{
	struct rc_config	 cfg;
	struct rc_user		*u;

	parse_ok(&cfg,
	    "# comment\n"
	    "poll mail.example.net, with protocol imap; and port 143:\n"
	    "  user joe there, has password: \"pw\"; wants options keep,\n"
	    "  and is joe here; with nokeep fetchall; # trailing\n"
	    "skip other.example.net with proto pop3 user with there\n");
	assert_int_equal(cfg.npolls, 2);
	assert_int_equal(cfg.polls[0].proto, RC_PROTO_IMAP);
	assert_int_equal(cfg.polls[0].port, 143);
	u = &cfg.polls[0].users[0];
	assert_string_equal(u->remotename, "joe");
	assert_string_equal(u->password, "pw");
	assert_int_equal(u->keep, RC_NO);	/* nokeep = no keep, last wins */
	assert_int_equal(u->fetchall, RC_YES);
	assert_int_equal(cfg.polls[1].skip, 1);
	/* after 'user' a noise word is a name */
	assert_string_equal(cfg.polls[1].users[0].remotename, "with");
	rc_free(&cfg);
}

static void
user_here_is_there_forms(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		*p;

	parse_ok(&cfg,
	    "poll a user esr here is eric there\n"
	    "poll b user fred is * here\n"
	    "poll c user x there to a b=c * here user y\n"
	    "poll d user keep there password password\n");
	p = &cfg.polls[0];
	assert_string_equal(p->users[0].remotename, "eric");
	assert_int_equal(p->users[0].nnames, 1);
	assert_name(&p->users[0].names[0], "esr", NULL);
	p = &cfg.polls[1];
	assert_string_equal(p->users[0].remotename, "fred");
	assert_int_equal(p->users[0].nnames, 0);
	assert_int_equal(p->users[0].wildcard, 1);
	assert_true(rc_user_multidrop(&p->users[0]));
	p = &cfg.polls[2];
	assert_int_equal(p->nusers, 2);
	assert_int_equal(p->users[0].nnames, 2);
	assert_name(&p->users[0].names[1], "b", "c");
	assert_int_equal(p->users[0].wildcard, 1);
	assert_string_equal(p->users[1].remotename, "y");
	/* names after user/pass are never keywords */
	assert_string_equal(cfg.polls[3].users[0].remotename, "keep");
	assert_string_equal(cfg.polls[3].users[0].password, "password");
	rc_free(&cfg);
}

static void
several_users_and_no_is(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		*p;

	parse_ok(&cfg,
	    "poll pop.example.net proto pop3\n"
	    "  user alice there password a1 is alice here keep\n"
	    "  user bob there password b1\n"
	    "  user carol password c1 is carol dave here fetchall\n"
	    "poll bare.example.net\n");
	finish_ok(&cfg, NULL);
	p = &cfg.polls[0];
	assert_int_equal(p->nusers, 3);
	assert_int_equal(p->users[0].keep, RC_YES);
	assert_int_equal(p->users[1].keep, RC_NO);
	/* no is/to: the invoking user gets the mail */
	assert_int_equal(p->users[1].nnames, 1);
	assert_name(&p->users[1].names[0], "eddy", NULL);
	assert_int_equal(p->users[1].names_default, 1);
	assert_true(rc_user_multidrop(&p->users[2]));
	assert_int_equal(p->users[2].fetchall, RC_YES);
	/* a poll without any user: one block, all defaults */
	p = &cfg.polls[1];
	assert_int_equal(p->proto, RC_PROTO_AUTO);
	assert_int_equal(p->nusers, 1);
	assert_string_equal(p->users[0].remotename, "eddy");
	assert_name(&p->users[0].names[0], "eddy", NULL);
	rc_free(&cfg);
}

static void
implicit_user_block(void **state)
{
	struct rc_config	 cfg;
	struct rc_user		*u;

	parse_ok(&cfg, "poll h proto imap password secret folder INBOX "
	    "Lists keep\n");
	finish_ok(&cfg, NULL);
	u = &cfg.polls[0].users[0];
	assert_string_equal(u->remotename, "eddy");
	assert_string_equal(u->password, "secret");
	assert_int_equal(u->folders.n, 2);
	assert_int_equal(u->keep, RC_YES);
	rc_free(&cfg);
}

static void
defaults_entry(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		*p;

	parse_ok(&cfg,
	    "set daemon = 600\n"
	    "defaults proto imap timeout 60 localdomains lan.example\n"
	    "  keep smtphost mailhub/2525 fetchlimit 10\n"
	    "poll a user x there\n"
	    "poll b proto pop3 localdomains other.example\n"
	    "  user y there no keep smtphost 10.0.0.1\n");
	assert_non_null(cfg.defaults);
	assert_int_equal(cfg.run.daemon, 600);
	finish_ok(&cfg, NULL);
	assert_null(cfg.defaults);
	p = &cfg.polls[0];
	assert_int_equal(p->proto, RC_PROTO_IMAP);
	assert_int_equal(p->timeout, 60);
	assert_int_equal(p->localdomains.n, 1);
	assert_string_equal(p->localdomains.v[0], "lan.example");
	assert_int_equal(p->users[0].keep, RC_YES);
	assert_int_equal(p->users[0].fetchlimit, 10);
	assert_string_equal(p->users[0].smtphosts[0].host, "mailhub");
	assert_int_equal(p->users[0].smtphosts[0].port, 2525);
	/* the entry's own values win; lists are not mixed */
	p = &cfg.polls[1];
	assert_int_equal(p->proto, RC_PROTO_POP3);
	assert_int_equal(p->localdomains.n, 1);
	assert_string_equal(p->localdomains.v[0], "other.example");
	assert_int_equal(p->users[0].keep, RC_NO);
	assert_int_equal(p->users[0].nsmtphosts, 1);
	assert_string_equal(p->users[0].smtphosts[0].host, "10.0.0.1");
	assert_int_equal(p->users[0].smtphosts[0].port, 25);
	rc_free(&cfg);
}

static void
command_line_overrides(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		 cmd;
	struct rc_user		 cu;
	char			*names[] = { "b", "new.example.net" };

	parse_ok(&cfg,
	    "poll a proto pop3 user x there keep\n"
	    "skip b proto imap aka b-alias user y there no fetchall\n");
	memset(&cmd, 0, sizeof(cmd));
	memset(&cu, 0, sizeof(cu));
	cmd.proto = RC_PROTO_POP3;
	cu.fetchall = RC_YES;
	cu.remotename = "forced";
	cmd.users = &cu;
	cmd.nusers = 1;
	assert_int_equal(rc_select(&cfg, names, 2, errbuf, sizeof(errbuf)),
	    PS_SUCCESS);
	assert_int_equal(rc_finish(&cfg, &cmd, NULL, &env_eddy, errbuf,
	    sizeof(errbuf)), PS_SUCCESS);
	assert_int_equal(cfg.npolls, 3);
	assert_false(cfg.polls[0].active);
	assert_true(cfg.polls[1].active);	/* a skip entry, named */
	assert_int_equal(cfg.polls[1].proto, RC_PROTO_POP3);
	assert_int_equal(cfg.polls[1].users[0].fetchall, RC_YES);
	assert_string_equal(cfg.polls[1].users[0].remotename, "forced");
	assert_int_equal(cfg.polls[0].users[0].keep, RC_YES);
	/* a name the file does not know is polled with defaults */
	assert_string_equal(cfg.polls[2].name, "new.example.net");
	assert_true(cfg.polls[2].active);
	assert_int_equal(cfg.polls[2].line, 0);
	rc_free(&cfg);
}

static void
server_options(void **state)
{
	struct rc_config	 cfg;
	struct rc_poll		*p;

	parse_ok(&cfg,
	    "poll label via 127.0.0.1 proto APOP service 1110 interval 3\n"
	    "  timeout 20 envelope 1 X-Envelope-To qvirtual \"ns-\" uidl\n"
	    "  aka a.example b.example localdomains lan\n"
	    "  bad-header reject no dns no checkalias\n"
	    "  user u there sslproto '' sslcertfile ca.pem no sslcertck ssl\n"
	    "  idle dropdelivered stripcr limit 100000\n"
	    "poll x auth xoauth2 no envelope user v there oauth2file tok\n");
	p = &cfg.polls[0];
	assert_string_equal(rc_poll_host(p), "127.0.0.1");
	assert_int_equal(p->port, 1110);
	assert_int_equal(p->interval, 3);
	assert_int_equal(p->timeout, 20);
	assert_int_equal(p->envskip, 1);
	assert_string_equal(p->envelope, "X-Envelope-To");
	assert_string_equal(p->qvirtual, "ns-");
	assert_int_equal(p->uidl, RC_YES);
	assert_int_equal(p->akas.n, 2);
	assert_string_equal(p->users[0].sslproto, "");
	assert_string_equal(p->users[0].sslcertfile, "/etc/ca.pem");
	assert_string_equal(cfg.polls[1].users[0].oauth2file, "/etc/tok");
	assert_int_equal(p->users[0].sslcertck, RC_NO);
	assert_int_equal(p->users[0].limit, 100000);
	assert_int_equal(cfg.polls[1].auth, RC_AUTH_XOAUTH2);
	assert_int_equal(cfg.polls[1].envelope_on, RC_NO);
	finish_ok(&cfg, NULL);
	assert_int_equal(p->proto, RC_PROTO_POP3);
	assert_int_equal(p->auth, RC_AUTH_APOP);
	assert_int_equal(p->users[0].stripcr, RC_YES);
	assert_int_equal(cfg.polls[1].envelope_on, RC_NO);
	/* the account is loaded by the fetcher, when first needed */
	assert_non_null(cfg.polls[1].users[0].oauth2);
	assert_null(p->users[0].oauth2);
	rc_free(&cfg);
}

/* rc_finish() fails with err holding want. */
static void
finish_fails(const char *text, const char *want)
{
	struct rc_config cfg;
	int		 rv;

	parse_ok(&cfg, text);
	assert_int_equal(rc_select(&cfg, NULL, 0, errbuf, sizeof(errbuf)),
	    PS_SUCCESS);
	errbuf[0] = '\0';
	rv = rc_finish(&cfg, NULL, NULL, &env_eddy, errbuf, sizeof(errbuf));
	if (rv != PS_SYNTAX || strstr(errbuf, want) == NULL)
		fail_msg("for %s\n  got (%d) '%s'\n  want '%s'", text, rv,
		    errbuf, want);
	rc_free(&cfg);
}

static void
oauth2_rules(void **state)
{
	struct rc_config cfg;
	struct rc_poll	 cmd;

	finish_fails("poll a proto IMAP auth xoauth2\n\n  user u is v here\n",
	    "/etc/rc:3: auth xoauth2 needs an oauth2file");
	finish_fails("poll a auth oauthbearer\n",
	    "/etc/rc:1: auth oauthbearer needs an oauth2file");
	finish_fails("defaults auth xoauth2\npoll a\n  user u oauth2file f\n"
	    "  sslproto ''\n", "/etc/rc:3: auth xoauth2 needs TLS");
	finish_fails("poll a proto POP3\n  user u oauth2file f\n",
	    "/etc/rc:2: auth any does not use an oauth2file");
	finish_fails("poll a auth password user u oauth2file f\n",
	    "auth password does not use an oauth2file");

	/* defaults give auth and file; the command line may give auth */
	parse_ok(&cfg, "defaults auth oauthbearer oauth2file acct\n"
	    "poll a user u\npoll b user w oauth2file /b\n");
	finish_ok(&cfg, NULL);
	assert_string_equal(cfg.polls[0].users[0].oauth2file, "/etc/acct");
	assert_string_equal(cfg.polls[1].users[0].oauth2file, "/b");
	assert_non_null(cfg.polls[0].users[0].oauth2);
	assert_non_null(cfg.polls[1].users[0].oauth2);
	rc_free(&cfg);
	memset(&cmd, 0, sizeof(cmd));
	cmd.auth = RC_AUTH_XOAUTH2;
	parse_ok(&cfg, "poll a user u oauth2file /f\n");
	finish_ok(&cfg, &cmd);
	assert_int_equal(cfg.polls[0].auth, RC_AUTH_XOAUTH2);
	rc_free(&cfg);
}

static void
malformed_files(void **state)
{
	static const struct { const char *text, *want; } t[] = {
		{ "poll\n", "rc:1: expected a server name after 'poll', got "
		    "end of file" },
		{ "poll a\n  proto\n", "rc:2: expected a protocol after "
		    "'proto' (POP3, IMAP, AUTO), got end of file" },
		{ "poll a proto smtp\n", "rc:1: expected a protocol after "
		    "'proto' (POP3, IMAP, AUTO), got 'smtp'" },
		{ "\n\npoll a port http\n", "rc:3: expected a number after "
		    "'port', got 'http'" },
		{ "poll a port 70000\n", "rc:1: 'port 70000' out of range" },
		{ "poll a service nosuchservice\n", "rc:1: unknown service "
		    "'nosuchservice'" },
		{ "poll a user x there\n  proto imap\n", "rc:2: server "
		    "option 'proto' after user options" },
		{ "keep\n", "rc:1: expected 'poll', 'skip', 'defaults' or "
		    "'set', got 'keep' (an option outside any poll entry)" },
		{ "poll a user x there frobnicate\n", "rc:1: expected a user "
		    "option or a new poll entry, got 'frobnicate'" },
		{ "set daemon soon\n", "rc:1: expected a number after "
		    "'set daemon', got 'soon'" },
		{ "set frob 1\n", "rc:1: expected a global option after "
		    "'set'" },
		{ "set no daemon\n", "rc:1: 'no' cannot precede 'daemon'" },
		{ "poll a user x there no via\n", "rc:1: 'no' cannot precede "
		    "'via'" },
		{ "poll a password \"open\n", "rc:1: unterminated quoted "
		    "string" },
		{ "poll a user x y z\n", "rc:1: expected 'here' after the "
		    "local names of 'user', got end of file" },
		{ "poll a user x there is a b there\n", "rc:1: 'there' needs "
		    "exactly one remote name" },
		{ "poll a user x there is\n", "rc:1: expected a name after "
		    "'is', got end of file" },
		{ "poll a user x there to *=root here\n", "'*' cannot be "
		    "mapped" },
		{ "poll a keep user x\n", "rc:1: 'user' after user options "
		    "that had no 'user'" },
		{ "poll a user x here there\n", "rc:1: 'there' without a "
		    "name" },
		{ "poll a\ndefaults\n", "rc:2: 'defaults' must come before "
		    "the first poll entry" },
		{ "defaults\ndefaults\n", "rc:2: a second 'defaults' entry" },
		{ "poll a smtphost host/port\n", "rc:1: expected HOST or "
		    "HOST/PORT after 'smtphost', got 'host/port'" },
		{ "poll a auth magic\n", "rc:1: expected an authentication "
		    "type after 'auth'" },
		{ "poll a sslproto ssl3\n", "rc:1: 'sslproto ssl3' is not "
		    "implemented" },
		{ "poll a envelope 2\n", "rc:1: expected a string after "
		    "'envelope', got end of file" },
		{ "poll a limit -5\n", "rc:1: 'limit -5' out of range" },
		{ "poll a user \"x\\x00\" there\n", "rc:1: escape sequence "
		    "gives a NUL byte" },
		{ "poll a bad-header maybe\n", "rc:1: expected 'accept' or "
		    "'reject' after 'bad-header', got 'maybe'" },
		{ "set postmaster\n", "rc:1: expected a string after "
		    "'set postmaster', got end of file" },
		{ "poll a timeout 99999999999999999999\n", "rc:1: number "
		    "'99999999999999999999' out of range" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		parse_fails(t[i].text, t[i].want);
}

static void
bounded_input(void **state)
{
	struct rc_config cfg;
	char		*big;
	size_t		 n;

	/* a word longer than RC_MAX_TOKEN */
	n = RC_MAX_TOKEN + 100;
	big = malloc(n + 32);
	assert_non_null(big);
	memcpy(big, "poll ", 5);
	memset(big + 5, 'a', n);
	strcpy(big + 5 + n, "\n");
	parse_fails(big, "rc:1: word longer than 4096 bytes");
	memcpy(big, "poll \"", 6);
	memset(big + 6, 'a', n);
	strcpy(big + 6 + n, "\"\n");
	parse_fails(big, "rc:1: string longer than 4096 bytes");
	free(big);

	rc_init(&cfg);
	assert_int_equal(rc_parse_buf(&cfg, "rc", "poll a\0b", 8, errbuf,
	    sizeof(errbuf)), PS_SYNTAX);
	assert_non_null(strstr(errbuf, "NUL byte"));
	rc_free(&cfg);
}

static void
unimplemented_keywords(void **state)
{
	static const struct { const char *text, *want; } t[] = {
		{ "set invisible\n", "rc:1: 'set invisible' is not "
		    "implemented by fetchd" },
		{ "set softbounce\n", "'set softbounce' is not implemented" },
		{ "set spambounce\n", "'set spambounce' is not implemented" },
		{ "poll a proto kpop\n", "protocol 'kpop' is not implemented" },
		{ "poll a proto ETRN\n", "protocol 'ETRN' is not implemented" },
		{ "poll a auth gssapi\n", "'auth gssapi' is not implemented" },
		{ "poll a auth cram-md5\n", "'auth cram-md5' is not "
		    "implemented" },
		{ "poll a principal x\n", "'principal' is not implemented" },
		{ "poll a plugin \"ssh x\"\n", "'plugin' is not implemented" },
		{ "poll a interface ppp0/1.2.3.4\n", "'interface' is not "
		    "implemented" },
		{ "poll a dns\n", "'dns' is not implemented" },
		{ "poll a no uidl\n", "'no uidl' is not implemented" },
		{ "poll a nouidl\n", "'no uidl' is not implemented" },
		{ "poll a tracepolls\n", "'tracepolls' is not implemented" },
		{ "poll a bad-header accept\n", "'bad-header accept' is not "
		    "implemented" },
		{ "poll a esmtpname x\n", "'esmtpname' is not implemented" },
		{ "poll a user x there preconnect \"y\"\n", "rc:1: "
		    "'preconnect' is not implemented by fetchd" },
		{ "poll a user x there\n\n  bsmtp /tmp/x\n", "rc:3: 'bsmtp' "
		    "is not implemented" },
		{ "poll a user x there lmtp\n", "'lmtp' is not implemented" },
		{ "poll a user x there antispam 571\n", "'antispam' is not "
		    "implemented" },
		{ "poll a user x there rewrite\n", "'rewrite' is not "
		    "implemented" },
		{ "poll a user x there mimedecode\n", "'mimedecode' is not "
		    "implemented" },
		{ "poll a user x there dropstatus\n", "'dropstatus' is not "
		    "implemented" },
		{ "poll a user x there sslfingerprint AB\n", "'sslfingerprint' "
		    "is not implemented" },
		{ "poll a user x there sslcert c.pem\n", "'sslcert' is not "
		    "implemented" },
		{ "poll a user x there batchlimit 5\n", "'batchlimit' is not "
		    "implemented" },
		{ "poll a user x there expunge 5\n", "'expunge' is not "
		    "implemented" },
		{ "poll a user x there fetchdomains d\n", "'fetchdomains' is "
		    "not implemented" },
		{ "poll a user x there smtpaddress d\n", "'smtpaddress' is "
		    "not implemented" },
		{ "poll a user x there smtphost /var/lmtp\n", "is not "
		    "implemented" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		parse_fails(t[i].text, t[i].want);
}

static void
accepted_no_forms(void **state)
{
	struct rc_config	 cfg;

	/* what fetchd always does may be asked for */
	parse_ok(&cfg,
	    "set no invisible\nset no softbounce\nset no spambounce\n"
	    "set no showdots\nset nobouncemail\nset syslog\n"
	    "set logfile /var/log/fetchd.log\nset idfile ids\n"
	    "poll a no dns no checkalias no tracepolls nodns\n"
	    "  user x there no rewrite norewrite no mimedecode no dropstatus\n"
	    "  no pass8bits no limitflush forcecr no forcecr no ssl\n");
	assert_int_equal(cfg.run.bouncemail, RC_NO);
	assert_int_equal(cfg.run.syslog, RC_YES);
	assert_string_equal(cfg.run.logfile, "/var/log/fetchd.log");
	assert_string_equal(cfg.run.idfile, "/etc/ids");
	assert_int_equal(cfg.polls[0].users[0].ssl, RC_NO);
	rc_free(&cfg);
}

static void
dump_masks_and_round_trips(void **state)
{
	struct rc_config	 cfg, again;
	char			*d1 = NULL, *d2 = NULL;
	size_t			 l1 = 0, l2 = 0;
	FILE			*fp;

	parse_ok(&cfg, seed);
	finish_ok(&cfg, NULL);
	fp = open_memstream(&d1, &l1);
	rc_dump(fp, &cfg);
	fclose(fp);
	assert_null(strstr(d1, "secret"));
	assert_non_null(strstr(d1, "password \"****\""));
	assert_non_null(strstr(d1, "to \"eddy\" \"nelug\"=\"eddy\""));

	/* the dump is an rc file meaning the same thing */
	rc_init(&again);
	assert_int_equal(rc_parse_buf(&again, "/etc/rc", d1, l1, errbuf,
	    sizeof(errbuf)), PS_SUCCESS);
	finish_ok(&again, NULL);
	fp = open_memstream(&d2, &l2);
	rc_dump(fp, &again);
	fclose(fp);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	rc_free(&cfg);
	rc_free(&again);
}

static void
file_mode_rule(void **state)
{
	struct stat	 st;

	memset(&st, 0, sizeof(st));
	st.st_uid = geteuid();
	st.st_mode = S_IFREG | 0600;
	assert_int_equal(rc_check_mode("rc", &st, errbuf, sizeof(errbuf)),
	    PS_SUCCESS);
	st.st_mode = S_IFREG | 0640;
	assert_int_equal(rc_check_mode("rc", &st, errbuf, sizeof(errbuf)),
	    PS_IOERR);
	assert_string_equal(errbuf, "File rc must have no more than "
	    "-rwx------ (0700) permissions.");
	st.st_mode = S_IFREG | 0604;
	assert_int_equal(rc_check_mode("rc", &st, errbuf, sizeof(errbuf)),
	    PS_IOERR);
	st.st_mode = S_IFDIR | 0700;
	assert_int_equal(rc_check_mode("rc", &st, errbuf, sizeof(errbuf)),
	    PS_IOERR);
	st.st_mode = S_IFREG | 0600;
	st.st_uid = geteuid() + 1;
	assert_int_equal(rc_check_mode("rc", &st, errbuf, sizeof(errbuf)),
	    PS_IOERR);
	assert_string_equal(errbuf, "File rc must be owned by you.");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seed_file_structure),
		cmocka_unit_test(quoting_and_escapes),
		cmocka_unit_test(noise_words_and_punctuation),
		cmocka_unit_test(user_here_is_there_forms),
		cmocka_unit_test(several_users_and_no_is),
		cmocka_unit_test(implicit_user_block),
		cmocka_unit_test(defaults_entry),
		cmocka_unit_test(command_line_overrides),
		cmocka_unit_test(server_options),
		cmocka_unit_test(oauth2_rules),
		cmocka_unit_test(malformed_files),
		cmocka_unit_test(bounded_input),
		cmocka_unit_test(unimplemented_keywords),
		cmocka_unit_test(accepted_no_forms),
		cmocka_unit_test(dump_masks_and_round_trips),
		cmocka_unit_test(file_mode_rule),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("rcfile", tests, NULL, NULL);
}
