# anerun component (see Makefile.am)
libanerun_a_SOURCES += runtime/backend.h runtime/tensor.h runtime/wfile.h
# libanerun.a: everything of anerun but main(). It needs, after it,
# libcpu.a libanetc.a libmiltext.a libweights.a libanet.a.
libanerun_a_SOURCES += runtime/stats.c runtime/stats.h runtime/flops.c runtime/flops.h \
	runtime/compare.c runtime/compare.h runtime/report.c runtime/report.h \
	runtime/sim.c runtime/sim.h runtime/model.c runtime/model.h \
	runtime/dryrun.c runtime/dryrun.h runtime/runopts.c runtime/runopts.h \
	runtime/run.c runtime/run.h
