# One Makefile for the three programs, the tests and the demo.
#
#   make              CPU build: bin/sdtrain bin/sdexport bin/sdinfer
#   make CUDA=1       also the CUDA backend (nvcc, cuDNN, cuBLAS under $(CUDA_HOME))
#   make test         dependencies (tools/deps.sh), build, run every test
#   make SAN=1 test   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz         clang + libFuzzer harnesses (fuzz/), each run FUZZ_SECONDS (default 10)
#   make demo         the main job: train, export, evaluate on Fashion-MNIST
#   make bench        whole networks vs PyTorch and onnxruntime, then per convolution shape
#   make bench-conv   only the per-convolution-shape table (bench/conv_shapes.sh)
#   make CROSS=aarch64-linux-gnu- programs tests
#                     cross build with Debian's aarch64 gcc into build-aarch64/ (portable
#                     kernels only); tools/cross_test.sh runs its tests under qemu-user
#
# Sources are found by directory, so adding a file never needs an edit here:
#   common/*.c kernels/*.c kernels/cpu/*.c   the core (also built in double for gradient checks)
#   kernels/cpu/simd/*.c                     the CPU's vector kernels, built once per instruction
#                                            set (x86-64: portable, avx2, avx512; elsewhere:
#                                            portable); the backend picks one at run time
#   kernels/cuda/*.cu kernels/cuda/*.c       the CUDA backend (CUDA=1 only)
#   train/ export/ infer/                    one program each; main.c is its entry point,
#                                            the other files are linked into the tests too
#   infer/ops/*.c                            one file per ONNX operator (sdinfer)
#   tests/test_*.c                           float tests, one binary each
#   tests/gradcheck_*.c                      double-precision tests, one binary each
#   tests/fault_shim.c                       LD_PRELOAD library that fails or kills file writes

CC        ?= gcc
ifdef CROSS
CC        := $(CROSS)gcc
AR        := $(CROSS)ar
endif
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
MACHINE   := $(shell $(CC) -dumpmachine)
# A build for another CPU than this machine's (CROSS=, or CC= a cross compiler) gets
# its own folder, build-aarch64/ and so on; a native build on any CPU uses build/.
TARGET_CPU := $(firstword $(subst -, ,$(MACHINE)))
FOREIGN    := $(filter-out $(shell uname -m),$(TARGET_CPU))
# The generic build runs on any x86-64 (or any target gcc builds for); only the
# kernels in kernels/cpu/simd/ use wider instructions, and only where the CPU has them.
ifneq ($(filter x86_64-%,$(MACHINE)),)
ARCH      ?= -march=x86-64
SIMD_ISAS := portable avx2 avx512
else
ARCH      ?=
SIMD_ISAS := portable
endif
SIMD_FLAGS_portable := -DSD_ISA_PORTABLE
SIMD_FLAGS_avx2     := -DSD_ISA_AVX2 -march=x86-64-v3
SIMD_FLAGS_avx512   := -DSD_ISA_AVX512 -march=x86-64-v4 -mprefer-vector-width=512
OPT       ?= -O3
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

BUILD := build$(FOREIGN:%=-%)
ifeq ($(SAN),1)
BUILD := $(BUILD)-san
OPT   := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# The vector kernels at -O2 (still instrumented): at -O1 their register blocks stay in
# memory, every access checked, and the kernels took most of the sanitized tests' time.
# -g1 (line tables: reports still name file and line): full debug information of their
# inlined register blocks made gemm.c and conv_winograd.c 30 s compiles each, per ISA.
SIMD_OPT := -O2 -g1
# Their double build serves the small gradient checks only: -O1 halves its compile.
SIMD_OPT_F64 := -O1 -g1
endif
# The libFuzzer build: everything compiled by clang with coverage, ASan and UBSan.
ifeq ($(FUZZ),1)
BUILD := build-fuzz
CC    := clang
OPT   := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
# gcc's -Wno-format-truncation below and gcc's optimize("fp-contract=fast") attribute
# (kernels/cpu/conv_direct.c: rounding only) are unknown to clang; at -O1 with
# sanitizers clang cannot always honour `omp simd` and says so (-Wpass-failed).
CFLAGS += -Wno-unknown-warning-option -Wno-unknown-attributes -Wno-pass-failed
# The vector kernels keep AddressSanitizer (a fuzzed model's shapes reach them) but not
# UBSan or the coverage the fuzzer steers by (it steers through the readers; the kernels
# run under UBSan in make SAN=1 test): gemm.c and conv_winograd.c then compile in 12-22 s
# instead of 40-45 s each, per ISA.
SIMD_OPT := -O2 -g1 -fno-sanitize=undefined,fuzzer-no-link
endif
ifeq ($(CUDA),1)
BUILD := $(BUILD)-cuda
endif
ifneq ($(FOREIGN),)
ifeq ($(CUDA),1)
$(error CUDA=1 builds for this machine's CPU only, not for $(TARGET_CPU))
endif
ifneq ($(filter test demo bench,$(MAKECMDGOALS)),)
$(error $(TARGET_CPU) programs do not run here: tools/cross_test.sh runs its tests under qemu-user)
endif
endif

# libhdf5 (Debian's serial build, under libmatio): initialised once before the
# reader processes that read MATLAB v7.3 files (common/mat73_reader.c).
HDF5_CFLAGS ?= $(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
HDF5_LIBS   ?= $(shell pkg-config --libs hdf5 2>/dev/null || echo -lhdf5_serial)
# OpenMPI (optional, tools/deps.sh installs it): sdtrain trains data-parallel under
# mpirun (train/dist.c). Without it, and in a cross build (no :arm64 libmpi here),
# train/dist.c compiles to one process. MPI=0 turns it off; MPI=1 insists.
ifeq ($(FOREIGN),)
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1)
endif
ifeq ($(MPI),1)
CPPFLAGS += -DSD_WITH_MPI $(shell pkg-config --cflags ompi-c)
# --as-needed (for every library after it): only what calls MPI (sdtrain) records
# libmpi; sdinfer, sdexport and libsdinfer's users do not need OpenMPI to run.
LDLIBS   += -Wl,--as-needed $(shell pkg-config --libs ompi-c)
endif
CPPFLAGS += -I. -Icommon -Ikernels -Iproto -D_DEFAULT_SOURCE $(HDF5_CFLAGS)
CFLAGS   += -std=c11 $(OPT) $(ARCH) -Wall -Wextra -Werror -Wno-format-truncation -fopenmp -pthread $(SANFLAGS) -MMD -MP
# snprintf into fixed buffers truncates on purpose (paths and messages); gcc cannot tell.
LDFLAGS  += -fopenmp -pthread $(SANFLAGS)
LDLIBS   += -lopenblas -lprotobuf-c -lcjson -lmatio $(HDF5_LIBS) -lz -lm
# Image files (JPEG through libjpeg-turbo's TurboJPEG, PNG through libpng: the folder
# data set and sdinfer --images). On by default; off for another CPU's build (there are
# no Arm builds of those libraries here): IMAGES=0 compiles the support out.
IMAGES ?= $(if $(FOREIGN),0,1)
ifeq ($(IMAGES),1)
CPPFLAGS += -DSD_WITH_IMAGES
LDLIBS   += -lturbojpeg -lpng
endif

CORE_SRC   := $(wildcard common/*.c) $(wildcard kernels/*.c) $(wildcard kernels/cpu/*.c)
SIMD_SRC   := $(wildcard kernels/cpu/simd/*.c)
TRAIN_SRC  := $(filter-out train/main.c,$(wildcard train/*.c))
EXPORT_SRC := $(filter-out export/main.c,$(wildcard export/*.c))
INFER_SRC  := $(filter-out infer/main.c,$(wildcard infer/*.c)) $(wildcard infer/ops/*.c)
PROTO_C    := proto/onnx.pb-c.c
PROTO_H    := proto/onnx.pb-c.h

ifeq ($(CUDA),1)
CPPFLAGS  += -DSD_WITH_CUDA -I$(CUDA_HOME)/include
CUDA_CU   := $(wildcard kernels/cuda/*.cu)
CUDA_C    := $(wildcard kernels/cuda/*.c)
# sm_90 = Hopper (H100/H200); -arch=sm_90 also embeds compute_90 PTX for newer GPUs.
# -fPIC: the same objects go into the programs and libsdinfer.so (mk/libsdinfer.mk).
# nvcc's own warnings are errors too, like the host compiler's; -MMD -MP: header dependencies.
NVCCFLAGS ?= -O3 -std=c++17 -arch=sm_90 --Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror,-fPIC \
             -I. -Icommon -Ikernels -DSD_WITH_CUDA -MMD -MP
LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
CUDA_OBJ  := $(CUDA_CU:%.cu=$(BUILD)/%.o) $(CUDA_C:%.c=$(BUILD)/%.o)
endif

SIMD_OBJ   := $(foreach isa,$(SIMD_ISAS),$(SIMD_SRC:%.c=$(BUILD)/%.$(isa).o))
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o) $(SIMD_OBJ) $(BUILD)/proto/onnx.pb-c.o $(CUDA_OBJ)
# The double build: the same core sources compiled for real=double.
CORE64_OBJ := $(CORE_SRC:%.c=$(BUILD)/f64/%.o) \
              $(foreach isa,$(SIMD_ISAS),$(SIMD_SRC:%.c=$(BUILD)/f64/%.$(isa).o))
TRAIN_OBJ  := $(TRAIN_SRC:%.c=$(BUILD)/%.o)
EXPORT_OBJ := $(EXPORT_SRC:%.c=$(BUILD)/%.o)
INFER_OBJ  := $(INFER_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libsd.a
LIB64      := $(BUILD)/libsd64.a

PROGRAM_NAMES := $(if $(wildcard train/main.c),sdtrain) \
                 $(if $(wildcard export/main.c),sdexport) \
                 $(if $(wildcard infer/main.c),sdinfer)
PROGRAMS := $(PROGRAM_NAMES:%=$(BUILD)/bin/%)
# bin/ links the plain (CPU, unsanitised) build's programs.

TESTS_F32 := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
# Fuzz harnesses (fuzz/fuzz_NAME.c): linked into libFuzzer programs by `make fuzz`,
# and into tests/test_fuzz_replay (gcc, no libFuzzer), which replays their corpora.
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_OBJ   := $(FUZZ_SRC:%.c=$(BUILD)/%.o) $(BUILD)/fuzz/harness_util.o
TESTS_F64 := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/gradcheck_*.c))
FAULT_SHIM := $(BUILD)/tests/fault_shim.so
# The benchmarks' C tools: built (and the counters tested) with the tests.
BENCH_TOOLS := $(BUILD)/bench/fma_peak $(BUILD)/bench/flops $(BUILD)/bench/conv_cpu

.PHONY: all deps test demo bench bench-conv plot clean programs tests tests-f32 fuzz fuzz-programs models-md
all: programs
programs: $(PROGRAMS)
ifeq ($(BUILD),build)
	@mkdir -p bin && for p in $(PROGRAM_NAMES); do ln -sfn ../$(BUILD)/bin/$$p bin/$$p; done
endif
tests: $(TESTS_F32) $(TESTS_F64) $(FAULT_SHIM) $(BENCH_TOOLS) programs lib
# The programs and the float tests: CI's compile check of the CUDA build (the double
# gradient checks are CPU code, compiled by the plain build).
tests-f32: $(TESTS_F32) programs lib

# ---- generated protobuf-c code for the ONNX schema (never edited by hand) ----
$(PROTO_C) $(PROTO_H) &: $(ONNX_PROTO)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=proto $(notdir $(ONNX_PROTO))

$(BUILD)/proto/onnx.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(OPT) $(SANFLAGS) -c $< -o $@

# ---- objects ----
$(BUILD)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/f64/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DSD_REAL_DOUBLE $(CFLAGS) -c $< -o $@

# The vector kernels, once per instruction set (the shortest-stem rule wins over the above).
define simd_rules
$(BUILD)/kernels/cpu/simd/%.$(1).o: kernels/cpu/simd/%.c | $(PROTO_H)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(SIMD_OPT) $$(SIMD_FLAGS_$(1)) -c $$< -o $$@

$(BUILD)/f64/kernels/cpu/simd/%.$(1).o: kernels/cpu/simd/%.c | $(PROTO_H)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -DSD_REAL_DOUBLE $$(CFLAGS) $$(or $$(SIMD_OPT_F64),$$(SIMD_OPT)) $$(SIMD_FLAGS_$(1)) -c $$< -o $$@
endef
$(foreach isa,$(SIMD_ISAS),$(eval $(call simd_rules,$(isa))))

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(CORE_OBJ) $(TRAIN_OBJ) $(EXPORT_OBJ) $(INFER_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB64): $(CORE64_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# ---- programs ----
$(BUILD)/bin/sdtrain: $(BUILD)/train/main.o $(LIB)
$(BUILD)/bin/sdexport: $(BUILD)/export/main.o $(LIB)
$(BUILD)/bin/sdinfer: $(BUILD)/infer/main.o $(LIB)
$(BUILD)/bin/%:
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- tests ----
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_fuzz_replay: $(BUILD)/tests/test_fuzz_replay.o $(FUZZ_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/gradcheck_%: $(BUILD)/f64/tests/gradcheck_%.o $(LIB64)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Preloaded into a program under test, so never sanitised itself (an ASan program
# gets the ASan runtime preloaded ahead of it; see tests/t_write_failures.sh).
$(FAULT_SHIM): tests/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared $< -ldl -o $@

# ---- benchmark tools ----
$(BUILD)/bench/flops $(BUILD)/bench/conv_cpu: $(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# For the baseline ISA, without $(ARCH): it picks its kernel at run time.
$(BUILD)/bench/fma_peak: bench/fma_peak.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(ARCH),$(CFLAGS)) $< $(LDFLAGS) -lm -o $@

deps:
	@tools/deps.sh

test: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory programs
	@tools/demo.sh

bench:
	@tools/deps.sh bench
	@$(MAKE) --no-print-directory programs $(BENCH_TOOLS)
	@SD_BUILD=$(BUILD) bench/run.sh

bench-conv:
	@tools/deps.sh bench
	@$(MAKE) --no-print-directory $(BENCH_TOOLS)
	@SD_BUILD=$(BUILD) bench/conv_shapes.sh

# sdinfer vs PyTorch and onnxruntime on torchvision's classification CNNs -> infer/MODELS.md
# (slow; MODELS_ARGS="--families mobilenet,regnet --runs 10" narrows it).
models-md:
	@tools/deps.sh bench
	@$(MAKE) --no-print-directory programs
	@/usr/bin/python3 bench/torchvision_models.py $(MODELS_ARGS)

plot:
	@tools/plot.sh $(RUNS)

# ---- fuzzing: one libFuzzer program per harness, FUZZ_NAME_entry.o supplies its entry point ----
$(BUILD)/fuzz/entry_%.o: fuzz/libfuzzer_entry.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DFUZZ_HARNESS=fuzz_$* -c $< -o $@

$(BUILD)/fuzz/bin/fuzz_%: $(BUILD)/fuzz/entry_%.o $(FUZZ_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

fuzz-programs: $(FUZZ_NAMES:%=$(BUILD)/fuzz/bin/fuzz_%)

FUZZ_SECONDS ?= 10
fuzz:
ifneq ($(FUZZ),1)
	@tools/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz
else
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-programs
	@fuzz/run.sh $(BUILD)/fuzz/bin $(FUZZ_SECONDS) $(FUZZ_NAMES)
endif

clean:
	rm -rf build build-* bin

# ---- libsdinfer (static, shared, pkg-config) and make install / uninstall ----
include mk/libsdinfer.mk mk/install.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
