# anerun component (see Makefile.am)
libanerun_a_SOURCES += runtime/backend.h runtime/tensor.h runtime/wfile.h
