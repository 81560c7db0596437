# provision: build, test and run the appliance. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

GO          ?= go
BIN         := bin/provision
SITE        ?= sites/paper.toml
DEMO_STATE  ?= /var/lib/provision-demo
QEMU        ?= 0
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Package versions start with a digit: untagged builds are 0.0.0+git<describe>.
PKG_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^\([^0-9]\)/0.0.0+git\1/' -e 's/-/./g')
FUZZTIME    ?= 20s
# Go minimizes each input that finds new code for up to 60 s by default,
# during which nothing new is tried: with a whole site file or kickstart
# as the seed, a 20 s run was all minimization (14 inputs tried).
FUZZMINTIME ?= 3s
FUZZ_TARGETS := ./provision:FuzzParse ./kickstart:FuzzLint ./images:FuzzParseTreeinfo \
  ./internal/dhcp:FuzzHandle ./internal/tftp:FuzzCleanPath ./internal/tftp:FuzzParseRRQ ./internal/bootcfg:FuzzParseMAC \
  ./internal/httpd:FuzzParseCallback ./internal/httpd:FuzzBootScriptQuery ./internal/httpd:FuzzParsePlain ./internal/idracsim:FuzzHandler \
  ./internal/bmc:FuzzParseCollection ./internal/bmc:FuzzParseJob ./internal/bmc:FuzzNormalizeFingerprint \
  ./internal/bmc:FuzzOlderThan ./internal/ndp:FuzzIsSolicitation ./internal/dhcp:FuzzParsePacket ./internal/dhcp:FuzzAppendPacket \
  ./internal/api:FuzzRequests
# Debian packages the tests use as real peers. Each issue's tests add theirs.
E2E_PKGS    ?= qemu-system-x86 ipxe-qemu ovmf
# The peers `make bench` measures against, and the system daemons their
# packages would start: stopped and disabled, the benchmarks start their own on loopback
# (the DHCP peers, perfdhcp's kea-admin, dnsmasq and Kea, in network namespaces).
BENCH_PKGS  ?= tftpd-hpa nginx-light wrk kea-admin dnsmasq-base kea-dhcp4-server
BENCH_UNITS ?= tftpd-hpa nginx kea-dhcp4-server
# The VM nodes' kernel, NIC modules and busybox (package internal/vm), from
# Debian's archive: `make vmkit` downloads and unpacks them into VMKIT.
VMKIT       ?= /var/cache/provision/vmkit
VMKIT_MODS  := virtio.ko virtio_ring.ko virtio_pci_legacy_dev.ko virtio_pci_modern_dev.ko virtio_pci.ko failover.ko net_failover.ko virtio_net.ko virtio_blk.ko
DEB_PKGS    ?= iproute2 openssl openssh-client ndisc6 udhcpc isc-dhcp-client curl atftp redfishtool xorriso ipxe pxelinux syslinux-common openssh-server haproxy keepalived bind9-utils openvpn mariadb-server-core chromium

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install the Debian packages and Go modules the build and tests need
	@missing=(); for p in $(DEB_PKGS); do dpkg -s "$$p" >/dev/null 2>&1 || missing+=("$$p"); done; \
	if [ $${#missing[@]} -gt 0 ]; then \
	  echo "installing Debian packages: $${missing[*]}"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "run as root to install them" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; \
	fi
	$(GO) mod download

sites: ## make the example secrets files private (git does not keep file modes)
	chmod 600 sites/*.secrets.toml

build: ## build bin/provision, its version from git describe
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/provision

install: build ## install provision, its systemd unit and defaults under DESTDIR (default /)
	install -D -m 0755 $(BIN) $(DESTDIR)/usr/sbin/provision
	install -D -m 0644 packaging/provision.service $(DESTDIR)/lib/systemd/system/provision.service
	test -e $(DESTDIR)/etc/default/provision || install -D -m 0644 packaging/default $(DESTDIR)/etc/default/provision
	@if [ -z "$(DESTDIR)" ]; then sh packaging/postinstall.sh; fi

package: build ## build the .deb and .rpm packages under dist/ with nfpm
	mkdir -p dist
	VERSION=$(PKG_VERSION) $(GO) run $(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/
	VERSION=$(PKG_VERSION) $(GO) run $(NFPM) package -f packaging/nfpm.yaml -p rpm -t dist/

test: deps sites vmkit ## run every test (unit, golden, real peers in namespaces, QEMU firmware, the lab) with -race
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(E2E_PKGS)"
	$(GO) vet ./...
	PROVISION_QEMU=1 PROVISION_VMKIT=$(VMKIT) $(GO) test -race -count=1 -timeout 20m ./...

lint: ## go vet, gofmt and staticcheck
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

golden: sites ## rewrite the golden files under testdata/ from the current code
	$(GO) test ./... -update

fuzz: ## run every fuzz target for FUZZTIME each (default 20s; FUZZMINTIME minimizing a new input, 3s)
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg)"; $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME); done

bench: deps sites ## run the benchmarks, the real peers measured in the same run (docs/BENCHMARKS.md)
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(BENCH_PKGS)"
	@for u in $(BENCH_UNITS); do systemctl disable --now "$$u" >/dev/null 2>&1 || true; \
	  service "$$u" stop >/dev/null 2>&1 || true; done
	PROVISION_BENCH=1 $(GO) test ./... -run '^$$|TestBenchCurl' -bench . -benchmem

vmkit: ## download the VM nodes' Debian kernel, virtio modules and static busybox into VMKIT
	@if [ -s $(VMKIT)/vmlinuz ] && [ -s $(VMKIT)/busybox ] && \
	  [ "$$(cat $(VMKIT)/modules/order 2>/dev/null)" = "$$(printf '%s\n' $(VMKIT_MODS))" ]; then exit 0; fi; \
	kpkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $$2; exit}'); \
	if [ -z "$$kpkg" ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  kpkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $$2; exit}'); fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "vmkit: $$kpkg and busybox-static into $(VMKIT)"; \
	(cd "$$tmp" && apt-get download -q "$$kpkg" busybox-static 2>&1 | grep -v '^W: Download is performed unsandboxed' || true); \
	for d in "$$tmp"/*.deb; do dpkg-deb -x "$$d" "$$tmp/x"; done; \
	mkdir -p $(VMKIT)/modules; \
	install -m 0644 "$$tmp"/x/boot/vmlinuz-* $(VMKIT)/vmlinuz; \
	install -m 0755 "$$tmp"/x/bin/busybox $(VMKIT)/busybox; \
	: > $(VMKIT)/modules/order.tmp; \
	for m in $(VMKIT_MODS); do f=$$(find "$$tmp"/x/lib/modules -name "$$m" | head -n 1); \
	  if [ -z "$$f" ]; then echo "vmkit: $$m not in $$kpkg" >&2; exit 1; fi; \
	  install -m 0644 "$$f" $(VMKIT)/modules/; echo "$$m" >> $(VMKIT)/modules/order.tmp; done; \
	mv $(VMKIT)/modules/order.tmp $(VMKIT)/modules/order

e2e: sites vmkit ## end to end with real firmware: QEMU's iPXE (SeaBIOS) and OVMF against the servers (root)
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(E2E_PKGS)"
	PROVISION_QEMU=1 PROVISION_VMKIT=$(VMKIT) $(GO) test -count=1 ./internal/httpd ./internal/bootcfg ./internal/vm ./cmd/provision -run QEMU -v

check: build sites ## check the example sites
	$(BIN) check --site sites/paper.toml
	$(BIN) check --site sites/staging.toml

demo: deps build sites ## the main job: the paper's 27 nodes from off to ready in the virtual lab (root; QEMU=N: N nodes are VMs)
	@if [ "$(QEMU)" -gt 0 ]; then $(MAKE) --no-print-directory deps DEB_PKGS="$(E2E_PKGS)" && $(MAKE) --no-print-directory vmkit; fi
	-$(BIN) lab down --site $(SITE) --state $(DEMO_STATE) >/dev/null 2>&1
	$(BIN) lab up --site $(SITE) --state $(DEMO_STATE) --qemu $(QEMU) --vmkit $(VMKIT)
	$(BIN) up --yes --site $(SITE) --state $(DEMO_STATE) --stagger 0 --concurrency 16
	@echo "the lab is still up: $(BIN) status --site $(SITE) --state $(DEMO_STATE); $(BIN) lab down --site $(SITE) --state $(DEMO_STATE)"
.PHONY: help deps sites vmkit build install package test lint golden fuzz bench e2e check demo
