# cpu component (see Makefile.am)
