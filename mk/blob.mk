# blob component (see Makefile.am)
