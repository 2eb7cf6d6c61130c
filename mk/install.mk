# make install / make uninstall (included by the Makefile).
#
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#
# PREFIX/bin            sdtrain sdexport sdinfer
# PREFIX/share/sdtrain/models/*.txt   the presets (sdtrain finds them next to its
#                       own folder, see train/models_dir.h: no path is compiled in)
# PREFIX/share/man/man1 sdtrain.1 sdexport.1 sdinfer.1, written from --help
# PREFIX/include        sdinfer.h
# PREFIX/lib            libsdinfer.a, libsdinfer.so*, pkgconfig/sdinfer.pc
#
# Installs what $(BUILD) holds (CUDA=1, SAN=1 pick their builds as for `make`).
# The man pages run the programs, so a cross build installs without them.

PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install

MAN_PAGES := $(PROGRAM_NAMES:%=$(BUILD)/man/%.1)
MAN_DESCRIPTION_sdtrain  := train residual networks with stochastic depth
MAN_DESCRIPTION_sdexport := export a stochastic-depth checkpoint as an ONNX model
MAN_DESCRIPTION_sdinfer  := run and evaluate ONNX models of residual networks

# What a static link of libsdinfer.a needs besides it (the shared library names
# its own dependencies).
SDINFER_LIBS_PRIVATE := -lopenblas -lprotobuf-c -lcjson -lm -fopenmp -pthread \
    $(if $(filter 1,$(CUDA)),-L$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++)

.PHONY: install uninstall man

man: $(MAN_PAGES)
$(BUILD)/man/%.1: $(BUILD)/bin/% tools/make_man.sh
	@mkdir -p $(dir $@)
	tools/make_man.sh $< "$(MAN_DESCRIPTION_$*)" > $@.tmp && mv $@.tmp $@

$(SDINFER_PC): infer/sdinfer.pc.in infer/sdinfer.h FORCE_PC
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(SDINFER_VERSION)|' -e 's|@LIBS_PRIVATE@|$(strip $(SDINFER_LIBS_PRIVATE))|' \
	    -e 's|@CUDA_NOTE@|$(if $(filter 1,$(CUDA)), or CUDA)|' $< > $@.tmp && mv $@.tmp $@
# PREFIX is a command-line choice, not a file: the .pc is rewritten every time.
.PHONY: FORCE_PC
FORCE_PC:

install: programs lib man $(SDINFER_PC)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/sdtrain/models \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 models/*.txt $(DESTDIR)$(DATADIR)/sdtrain/models/
	$(INSTALL) -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 infer/sdinfer.h $(DESTDIR)$(INCLUDEDIR)/sdinfer.h
	$(INSTALL) -m 644 $(SDINFER_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SDINFER_SO) $(DESTDIR)$(LIBDIR)/
	ln -sfn $(notdir $(SDINFER_SO)) $(DESTDIR)$(LIBDIR)/libsdinfer.so.$(SDINFER_SOVERSION)
	ln -sfn $(notdir $(SDINFER_SO)) $(DESTDIR)$(LIBDIR)/libsdinfer.so
	$(INSTALL) -m 644 $(SDINFER_PC) $(DESTDIR)$(PKGCONFIGDIR)/sdinfer.pc

# Removes exactly what install wrote (and the presets folder, once empty).
uninstall:
	rm -f $(PROGRAM_NAMES:%=$(DESTDIR)$(BINDIR)/%) $(PROGRAM_NAMES:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -f $(patsubst models/%,$(DESTDIR)$(DATADIR)/sdtrain/models/%,$(wildcard models/*.txt))
	-rmdir $(DESTDIR)$(DATADIR)/sdtrain/models $(DESTDIR)$(DATADIR)/sdtrain 2>/dev/null
	rm -f $(DESTDIR)$(INCLUDEDIR)/sdinfer.h $(DESTDIR)$(PKGCONFIGDIR)/sdinfer.pc
	rm -f $(DESTDIR)$(LIBDIR)/libsdinfer.a $(DESTDIR)$(LIBDIR)/$(notdir $(SDINFER_SO)) \
	    $(DESTDIR)$(LIBDIR)/libsdinfer.so.$(SDINFER_SOVERSION) $(DESTDIR)$(LIBDIR)/libsdinfer.so
