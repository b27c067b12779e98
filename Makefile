# vce: one binary, built against Debian 12's libraries.
#   make            build ./vce
#   make demo       the main job (installs what it needs first)
#   make check      every test (installs what it needs first)
#   make ARCH=arm64 cross-build for 64-bit Raspberry Pi OS: build/arm64/vce

ARCH ?= native
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0-dev)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Werror
# OPT and SAN are the knobs (the sanitizer build sets them); CFLAGS and
# LDFLAGS from the command line are added, never replace the rest.
OPT ?= -O2 -g
SAN ?=
DEFS := -D_FILE_OFFSET_BITS=64 -DVCE_VERSION='"$(VERSION)"'
LIBRARIES := libarchive jansson libcrypto libseccomp libcap libzstd zlib

ifeq ($(ARCH),arm64)
CC := aarch64-linux-gnu-gcc
BUILD := build/arm64
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
else ifeq ($(ARCH),native)
BUILD := build/native
PKG_CONFIG := pkg-config
else
$(error ARCH must be native or arm64)
endif

# gzip: ISA-L's igzip where the target has it (2.1x zlib), zlib otherwise.
ifeq ($(shell $(PKG_CONFIG) --exists libisal 2>/dev/null && echo yes),yes)
LIBRARIES += libisal
DEFS += -DVCE_HAVE_ISAL
endif

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(LIBRARIES) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(LIBRARIES) 2>/dev/null) -pthread
ALL_CFLAGS = $(OPT) $(SAN) -std=gnu17 $(WARNINGS) $(DEFS) $(PKG_CFLAGS) $(CFLAGS)
# Symbols bound at start (full RELRO): nothing of ld.so runs later, which
# also keeps a supervisor from faulting its pages back in.
ALL_LDFLAGS = $(SAN) -Wl,--as-needed -Wl,-z,relro,-z,now $(LDFLAGS)

LIB_SRC := $(wildcard common/*.c oci/*.c rootfs-cache/*.c net/*.c runtime/*.c)
CLI_SRC := $(wildcard runtime/cli/*.c)
HEADERS := $(wildcard common/*.h oci/*.h rootfs-cache/*.h net/*.h runtime/*.h runtime/cli/*.h)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps demo check lint lint-format lint-cppcheck unit-bins asan fuzz images clean format

all: vce

ifeq ($(ARCH),native)
vce: $(BUILD)/vce
	ln -sf $(BUILD)/vce vce
endif

# The binary links its libraries statically: shared, they cost ~7 ms at
# every start (libarchive alone pulls in libxml2, ICU and libstdc++), more
# than a container start should take. libarchive's xar writer, which vce
# never uses, is the only user of libxml2: its references go to a function
# that aborts. Only ISA-L (no static library in Debian) and libc stay shared.
STATIC_LIBS := -larchive -lbz2 -llzma -lzstd -lz -ljansson -lseccomp -lcap -lcrypto -lnettle
XAR_ONLY := UTF8Toisolat1 xmlBufferCreate xmlBufferFree xmlFreeTextWriter xmlNewTextWriterMemory \
	xmlTextWriterEndDocument xmlTextWriterEndElement xmlTextWriterSetIndent \
	xmlTextWriterStartDocument xmlTextWriterStartElement xmlTextWriterWriteAttribute \
	xmlTextWriterWriteBase64 xmlTextWriterWriteFormatAttribute xmlTextWriterWriteString
BIN_LIBS = -Wl,-Bstatic $(STATIC_LIBS) -Wl,-Bdynamic $(filter -lisal,$(PKG_LIBS)) -pthread -ldl \
	$(foreach s,$(XAR_ONLY),-Wl,--defsym=$(s)=vce_unreachable)

$(BUILD)/vce: $(CLI_OBJ) $(BUILD)/libvce.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BIN_LIBS)

$(BUILD)/libvce.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Unit tests: cmocka, run natively and again under ASan + UBSan.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvce.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libvce.a $(PKG_LIBS) -lcmocka

unit-bins: $(UNIT_BIN)

# The sanitizer build: the same sources in build/asan.
asan:
	$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		build/asan/vce unit-bins

# libFuzzer targets: clang, every parser; a short smoke run in make check.
fuzz: $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) $(PKG_CFLAGS) -o $@ $< \
		$(LIB_SRC) $(PKG_LIBS)

deps:
	@tests/deps.sh

FORMATTED := $(LIB_SRC) $(CLI_SRC) $(HEADERS) $(UNIT_SRC) $(FUZZ_SRC)

lint: lint-format lint-cppcheck
lint-format:
	clang-format --dry-run --Werror $(FORMATTED)
lint-cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem --std=c11 $(LIB_SRC) $(CLI_SRC)

format:
	clang-format -i $(FORMATTED)

images: vce
	for b in tests/images/build-*.sh; do $$b || exit 1; done

check: deps
	$(MAKE) --no-print-directory vce unit-bins asan fuzz
	$(MAKE) --no-print-directory ARCH=arm64 build/arm64/vce unit-bins
	tests/run-all.sh

demo:
	@tests/demo.sh

clean:
	rm -rf build vce
