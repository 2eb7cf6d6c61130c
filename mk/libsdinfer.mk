# libsdinfer: the runner (infer/, kernels/, common/) as a static and a shared
# library with one public header, infer/sdinfer.h. Included by the Makefile.
#
# The library's objects are compiled a second time, position-independent, into
# $(BUILD)/pic/ (the programs keep their own objects and flags). The nvcc objects
# are shared: nvcc always compiles them with -fPIC (see the Makefile).
#
#   $(BUILD)/lib/libsdinfer.so.1.0.0  (+ .so.1, .so links)  exports sdinfer_* only
#   $(BUILD)/lib/libsdinfer.a         one relocatable object, sdinfer_* global only
#   $(BUILD)/lib/sdinfer.pc           pkg-config file for PREFIX (see mk/install.mk)

SDINFER_VERSION := $(shell sed -n 's/^\#define SDINFER_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' infer/sdinfer.h | paste -sd.)
SDINFER_SOVERSION := $(firstword $(subst ., ,$(SDINFER_VERSION)))
PIC        := $(BUILD)/pic
LIBDIR_OUT := $(BUILD)/lib
SDINFER_API_SRC := $(wildcard infer/sdinfer_*.c)
PIC_SRC    := $(filter-out $(SDINFER_API_SRC),$(CORE_SRC) $(INFER_SRC))
PIC_OBJ    := $(PIC_SRC:%.c=$(PIC)/%.o) $(PIC)/proto/onnx.pb-c.o \
              $(foreach isa,$(SIMD_ISAS),$(SIMD_SRC:%.c=$(PIC)/%.$(isa).o)) \
              $(CUDA_CU:%.cu=$(BUILD)/%.o) $(CUDA_C:%.c=$(PIC)/%.o)
SDINFER_API_OBJ := $(SDINFER_API_SRC:%.c=$(PIC)/%.o)
PIC_ARCHIVE := $(PIC)/libsd_pic.a
SDINFER_SO := $(LIBDIR_OUT)/libsdinfer.so.$(SDINFER_VERSION)
SDINFER_A  := $(LIBDIR_OUT)/libsdinfer.a
SDINFER_PC := $(LIBDIR_OUT)/sdinfer.pc

.PHONY: lib
lib: $(SDINFER_SO) $(SDINFER_A)

$(PIC)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(PIC)/proto/onnx.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(OPT) $(SANFLAGS) -fPIC -c $< -o $@

define pic_simd_rule
$(PIC)/kernels/cpu/simd/%.$(1).o: kernels/cpu/simd/%.c | $(PROTO_H)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(SIMD_OPT) $$(SIMD_FLAGS_$(1)) -fPIC -c $$< -o $$@
endef
$(foreach isa,$(SIMD_ISAS),$(eval $(call pic_simd_rule,$(isa))))

$(PIC_ARCHIVE): $(PIC_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Only the archive members the API reaches are linked in; --as-needed then drops
# the libraries only the training code wants (matio, HDF5, cJSON).
$(SDINFER_SO): $(SDINFER_API_OBJ) $(PIC_ARCHIVE) infer/sdinfer.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libsdinfer.so.$(SDINFER_SOVERSION) \
	    -Wl,--version-script,infer/sdinfer.map -Wl,-z,defs -o $@ $(SDINFER_API_OBJ) \
	    -Wl,--start-group $(PIC_ARCHIVE) -Wl,--end-group -Wl,--as-needed $(LDLIBS)
	ln -sfn $(notdir $@) $(LIBDIR_OUT)/libsdinfer.so.$(SDINFER_SOVERSION)
	ln -sfn $(notdir $@) $(LIBDIR_OUT)/libsdinfer.so

# The same members in one relocatable object whose only global definitions are
# sdinfer_*: a static link cannot collide with the embedder's own symbols either.
$(SDINFER_A): $(SDINFER_API_OBJ) $(PIC_ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) -r -nostdlib -o $(PIC)/sdinfer_all.o \
	    $(SDINFER_API_OBJ) -Wl,--start-group $(PIC_ARCHIVE) -Wl,--end-group
	$(CROSS)objcopy --wildcard --keep-global-symbol='sdinfer_*' $(PIC)/sdinfer_all.o
	@rm -f $@
	$(AR) rcs $@ $(PIC)/sdinfer_all.o
