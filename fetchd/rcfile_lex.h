/*
 * Internals shared by rcfile.c (lexer and parser) and rcfile_conf.c
 * (merging, selection, dump).  Not for other modules: they use rcfile.h.
 */
#ifndef FETCHD_RCFILE_LEX_H
#define FETCHD_RCFILE_LEX_H

#include <stddef.h>

#include "rcfile.h"

/* Allocation failures end the program: a config cannot be half-read. */
void	*rc_xcalloc(size_t n, size_t size);
void	*rc_xreallocarray(void *p, size_t n, size_t size);
char	*rc_xstrdup(const char *s);
/* Replace *dst with a copy of s (NULL clears), wiping the old value. */
void	 rc_setstr(char **dst, const char *s);
void	 rc_list_add(struct rc_list *l, const char *s);
void	 rc_list_free(struct rc_list *l);
void	 rc_list_copy(struct rc_list *dst, const struct rc_list *src);
void	 rc_user_free(struct rc_user *u);

#endif
