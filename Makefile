# virtnet — top-level build. Plain GNU make.
#
#   make            build virtnetd and the libraries (-Wall -Wextra -Werror)
#   make CC=clang   the same with clang
#   make deps       install the Debian packages that are missing
#   make test       deps + unit tests under ASan/UBSan + a short run of every fuzz
#                   target + the integration scripts (root: namespaces, taps)
#   make integration  only the integration scripts
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 300) each
#   make bench      ring-engine and packet-path benchmarks, then the race
#                   against DPDK's vhost (figures, never pass/fail)
#   make demo       deps + build + the sim topology brought up and left running
#                   (a host's PF and two VFs as TAPs in namespaces; see README)
#   make demo-down  stop it
#   make V=1 ...    show the full compiler command lines

BOARD        ?= sim
V            ?= 0
Q            := $(if $(filter 1,$(V)),,@)
BUILD        ?= build
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_CC      ?= clang

MODULE_INCS := -Ihal/include -Iemu/include -Isim/include -Ifirmware/include
DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS   := $(shell pkg-config --libs libdpdk 2>/dev/null)
JSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JSON_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
EV_LIBS     := -lev
TLS_LIBS    := -lmbedtls -lmbedx509 -lmbedcrypto

WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-address-of-packed-member
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -pthread $(WARN) $(MODULE_INCS) \
           $(DPDK_CFLAGS) $(JSON_CFLAGS) $(EXTRA_CFLAGS)
REL_CFLAGS  := $(BASE_CFLAGS) -O2
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS  := $(BASE_CFLAGS) -O1 $(SAN_FLAGS) -DVIRTNET_TESTING
LIBS        := $(DPDK_LIBS) -lrte_bus_vdev $(JSON_LIBS) $(EV_LIBS) -lpthread
# Unit tests stand a DPDK ring port in for a representor.
TEST_LIBS   := -lrte_net_ring

# Library sources shared by every program and test.
LIB_SRCS := hal/log.c hal/eswitch_sim.c hal/veth.c hal/sock.c hal/vhost_user.c hal/vfio_user.c \
            emu/dma.c emu/virtq.c emu/virtq_packed.c emu/virtio_dev.c emu/virtio_pci.c emu/vnet_rss.c emu/vnet_hdr.c emu/virtio_net.c emu/vnet_dp.c \
            firmware/board.c firmware/config.c firmware/jsonfile.c firmware/dp.c firmware/fn.c firmware/vfu.c firmware/vu.c \
            sim/hostmem.c sim/drv_vq.c sim/drv_net.c sim/vfu_client.c sim/vpci_drv.c

UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
BENCHES := $(patsubst tests/bench/%.c,%,$(wildcard tests/bench/bench_*.c))
INTEG_TESTS := $(wildcard tests/integration/test_*.sh)

REL_OBJS := $(LIB_SRCS:%.c=$(BUILD)/rel/%.o)
SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/%.o)

# Keep objects that pattern-rule chains would delete as intermediates.
.SECONDARY:

.PHONY: all deps test unit integration fuzz-smoke fuzz bench demo demo-down clean check-build
.DEFAULT_GOAL := all

all: $(BUILD)/bin/virtnetd $(BUILD)/bin/virtnet-host

deps:
	@sh scripts/deps.sh

# The sub-make re-reads this file once the packages (and their pkg-config
# files) are present.
test: deps
	@$(MAKE) --no-print-directory check-build
	@sh scripts/run-tests.sh $(BUILD) "$(UNIT_TESTS)" "$(FUZZ_TARGETS)" $(FUZZ_SMOKE_SECONDS) "$(INTEG_TESTS)"

check-build: all $(UNIT_TESTS:%=$(BUILD)/test/%) $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%) \
             $(BUILD)/ab/firmware/dp.o $(BUILD)/bench/rttmon

unit: $(UNIT_TESTS:%=$(BUILD)/test/%)
	@sh scripts/run-tests.sh $(BUILD) "$(UNIT_TESTS)" "" 0

integration: all
	@sh scripts/run-tests.sh $(BUILD) "" "" 0 "$(INTEG_TESTS)"

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
	@sh scripts/run-tests.sh $(BUILD) "" "$(FUZZ_TARGETS)" $(FUZZ_SECONDS)

bench: all $(BENCHES:%=$(BUILD)/bench/%) $(BUILD)/bench/rttmon
	@for b in $(BENCHES); do $(BUILD)/bench/$$b || exit 1; done
	@sh scripts/bench-race.sh $(BUILD)/bin/virtnetd
	@sh scripts/bench-vfu.sh $(BUILD)/bin/virtnetd

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD) $(BOARD)

demo-down:
	@sh scripts/demo.sh $(BUILD) $(BOARD) down

clean:
	rm -rf $(BUILD)

# --- release objects and programs -----------------------------------------
$(BUILD)/rel/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bin/virtnetd: $(BUILD)/rel/firmware/virtnetd.o $(REL_OBJS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/bin/virtnet-host: $(BUILD)/rel/sim/virtnet_host.o $(REL_OBJS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/rel/tests/bench/%.o $(REL_OBJS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)

# The race's regime probe: plain C, no DPDK.
$(BUILD)/bench/rttmon: tests/bench/rttmon.c
	@mkdir -p $(@D)
	@echo "  CC LD   $@"
	$(Q)$(CC) $(REL_CFLAGS) $< -o $@

# The in-process A/B harness (hal/include/hal_ab.h) is a build of its own
# (make BUILD=build-ab EXTRA_CFLAGS=-DVNET_AB); its code, in the datapath
# lcore, is compiled here so that it cannot rot unseen.
$(BUILD)/ab/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC ab   $<"
	$(Q)$(CC) $(REL_CFLAGS) -DVNET_AB -MMD -MP -c $< -o $@

# --- sanitized objects and unit tests --------------------------------------
$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC san  $<"
	$(Q)$(CC) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/test/%: $(BUILD)/san/tests/unit/%.o $(SAN_OBJS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN_CFLAGS) $^ -o $@ $(CMOCKA_LIBS) $(LIBS) $(TEST_LIBS)

# --- libFuzzer targets (always clang) --------------------------------------
FUZZ_CFLAGS := $(BASE_CFLAGS) -O1 -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=all -DVIRTNET_TESTING
$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC fuzz $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/%: $(BUILD)/fuzz/tests/fuzz/%.o $(FUZZ_OBJS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
