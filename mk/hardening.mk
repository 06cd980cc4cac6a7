# hardening component (see Makefile.am)
