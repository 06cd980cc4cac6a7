# miltext component (see Makefile.am)
