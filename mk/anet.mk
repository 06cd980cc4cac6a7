# anet component (see Makefile.am)
