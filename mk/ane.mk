# ane component (see Makefile.am)
