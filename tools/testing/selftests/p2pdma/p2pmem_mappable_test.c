// SPDX-License-Identifier: GPL-2.0
/*
 * A CMB whose BAR lies where memory hotplug cannot map it.
 *
 * ZONE_DEVICE pages for a BAR are made by memory hotplug, which maps the
 * BAR into the kernel's linear map.  On arm64 with a 39-bit VA the linear
 * map ends at 256 GiB above the start of RAM, and the virt machine puts
 * 64-bit BARs in a window at 512 GiB: such a CMB can never be p2pmem.
 * Nor can a BAR below the start of RAM, where the linear map begins: the
 * virt machine's 32-bit window (highmem=off puts every BAR there).  The
 * harness boots both cases as P2PDMA_EXPECT=unmappable (arm64-va39 and
 * arm64-lowmmio); elsewhere every CMB is mappable.
 *
 * A refused CMB shows no cmbsz in sysfs (the NVMe driver publishes its
 * CMB registers only once it is registered): which function has a CMB,
 * and how big, is what the harness declared (P2PDMA_CMB, MiB per NVMe
 * function in the order it added them, which their serial numbers give:
 * p2p0, p2p1, ...; PCI order differs where one sits behind a root port).
 *
 * The NVMe driver must work without its CMB on both kernels.  Refusing
 * before anything is made, with one line that names the device, the
 * range and the mappable range, and the debugfs view of refusals, are
 * features of the rewritten core that the base kernel lacks: those tests
 * skip there.
 */
#define _GNU_SOURCE
#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DBG		"/sys/kernel/debug/p2pdma"
#define REFUSAL		"lies outside what memory hotplug can map"

static bool unmappable(void)
{
	return !strcmp(p2p_expect(), "unmappable");
}

static bool have_refusals_view(void)
{
	return access(DBG "/refused", R_OK) == 0;
}

/* The harness's number for @fn: N of its serial number "p2pN", or -1. */
static int harness_index(const struct nvme_fn *fn)
{
	char path[PATH_MAX], serial[64] = "";
	int idx, end = 0;
	FILE *f;

	snprintf(path, sizeof(path), NVME_CLASS "/%s/serial", fn->ctrl);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(serial, sizeof(serial), f))
		serial[0] = '\0';
	fclose(f);
	if (sscanf(serial, "p2p%d%n", &idx, &end) != 1 || idx < 0 ||
	    (serial[end] && serial[end] != ' ' && serial[end] != '\n'))
		return -1;
	return idx;
}

/* The CMB bytes the harness gave @fn; 0 for none, or for a stranger. */
static uint64_t declared_cmb(const struct nvme_fn *fn)
{
	const char *e = getenv("P2PDMA_CMB");
	int i, idx = harness_index(fn);
	char *end;
	long mb;

	for (i = 0; idx >= 0 && e && *e; i++) {
		mb = strtol(e, &end, 10);
		if (i == idx)
			return (uint64_t)mb << 20;
		e = *end == ',' ? end + 1 : "";
	}
	return 0;
}

/* The lowest address of System RAM, from /proc/iomem. */
static unsigned long long ram_start(void)
{
	unsigned long long s, e;
	char line[256];
	FILE *f;

	f = fopen("/proc/iomem", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != ' ' && strstr(line, ": System RAM") &&
		    sscanf(line, "%llx-%llx", &s, &e) == 2) {
			fclose(f);
			return s;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Copy into @out (one per line) the records of the kernel log since boot
 * that contain both @a and @b; returns how many there were.
 */
static int kmsg_grep(const char *a, const char *b, char *out, size_t len)
{
	int fd, n;

	if (len)
		out[0] = '\0';
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	n = kmsg_collect(fd, a, b, out, len);
	close(fd);
	return n;
}

/* Every CMB is p2pmem exactly where the topology says it is mappable. */
TEST(cmb_registered_where_mappable)
{
	struct nvme_fn fns[MAX_NVME];
	int i, n, cmbs = 0;
	uint64_t size;

	n = nvme_enumerate(fns, MAX_NVME);
	ASSERT_GE(n, 2);
	for (i = 0; i < n; i++) {
		ASSERT_LE(0, harness_index(&fns[i])) TH_LOG("%s: serial", fns[i].pci);
		if (!declared_cmb(&fns[i])) {
			EXPECT_FALSE(has_p2pmem(fns[i].pci)) TH_LOG("%s", fns[i].pci);
			continue;
		}
		cmbs++;
		if (unmappable())
			continue;	/* what is left behind: see below */
		ASSERT_TRUE(has_p2pmem(fns[i].pci)) TH_LOG("%s has a CMB", fns[i].pci);
		ASSERT_EQ(0, p2pmem_read(fns[i].pci, "size", &size));
		EXPECT_EQ(declared_cmb(&fns[i]), size) TH_LOG("%s", fns[i].pci);
		EXPECT_EQ(declared_cmb(&fns[i]), fns[i].cmb_bytes) TH_LOG("%s", fns[i].pci);
	}
	/* Only the topology without any CMB declares none */
	EXPECT_EQ(!strcmp(p2p_expect(), "none"), cmbs == 0) TH_LOG("%d CMBs", cmbs);
}

/*
 * Refused before anything was made: no p2pmem directory, nothing in the
 * providers view.
 */
TEST(unmappable_cmb_leaves_nothing)
{
	struct nvme_fn fns[MAX_NVME];
	struct dbg_provider dbg;
	int i, n, seen = 0;

	if (!unmappable())
		SKIP(return, "every BAR of this topology is mappable");
	if (!have_refusals_view())
		SKIP(return, "the base kernel lacks this (it keeps an empty p2pmem group)");
	n = nvme_enumerate(fns, MAX_NVME);
	for (i = 0; i < n; i++) {
		if (!declared_cmb(&fns[i]))
			continue;
		seen++;
		EXPECT_FALSE(has_p2pmem(fns[i].pci)) TH_LOG("%s", fns[i].pci);
		EXPECT_EQ(-ENOENT, dbg_provider_line(fns[i].pci, &dbg)) TH_LOG("%s", fns[i].pci);
	}
	EXPECT_GE(seen, 1);
}

/*
 * One line per unmappable CMB naming the device, its BAR, a range of that
 * BAR the size of the CMB, and the mappable range, which must indeed
 * exclude the CMB and hold RAM; none from memory hotplug itself; no such
 * line anywhere else.
 */
TEST(refusal_is_one_line_with_the_ranges)
{
	unsigned long long s, e, ms, me, bs, be, flags, ram = ram_start();
	struct nvme_fn fns[MAX_NVME];
	char lines[4096], *at;
	int i, n, bar, got;

	if (!have_refusals_view())
		SKIP(return, "the base kernel lacks this (memory hotplug's own warning)");
	n = nvme_enumerate(fns, MAX_NVME);
	for (i = 0; i < n; i++) {
		if (!unmappable() || !declared_cmb(&fns[i])) {
			EXPECT_EQ(0, kmsg_grep(fns[i].pci, REFUSAL, lines, sizeof(lines)))
				TH_LOG("%s", lines);
			continue;
		}
		ASSERT_EQ(1, kmsg_grep(fns[i].pci, REFUSAL, lines, sizeof(lines)))
			TH_LOG("%s: %s", fns[i].pci, lines);
		at = strstr(lines, "BAR ");
		ASSERT_NE(NULL, at) TH_LOG("%s", lines);
		got = sscanf(at, "BAR %d: [mem %llx-%llx] " REFUSAL " [mem %llx-%llx]",
			     &bar, &s, &e, &ms, &me);
		ASSERT_EQ(5, got) TH_LOG("%s", lines);
		ASSERT_EQ(0, bar_resource(fns[i].pci, bar, &bs, &be, &flags));
		EXPECT_TRUE(s >= bs && e <= be) TH_LOG("BAR %d is %#llx-%#llx", bar, bs, be);
		EXPECT_EQ(declared_cmb(&fns[i]), e - s + 1);
		EXPECT_TRUE(s < ms || e > me) TH_LOG("%#llx-%#llx is mappable", s, e);
		EXPECT_TRUE(ram >= ms && ram <= me) TH_LOG("RAM at %#llx is not", ram);
	}
	EXPECT_EQ(0, kmsg_grep("exceeds maximum addressable range", NULL, lines,
			       sizeof(lines))) TH_LOG("%s", lines);
}

/*
 * debugfs keeps the reason: the text of the log line, under the device.
 * (Other failed registrations of a provider, such as the KUnit tests'
 * on purpose, are listed too: only this reason must not be.)
 */
TEST(refused_view_says_why)
{
	char buf[4096], want[256], logged[1024], one[512], *line;
	struct nvme_fn fns[MAX_NVME];
	int i, n;

	if (!have_refusals_view())
		SKIP(return, "the base kernel lacks this (no debugfs view of refusals)");
	ASSERT_EQ(0, read_text(DBG "/refused", buf, sizeof(buf)));
	ASSERT_EQ(0, strncmp(buf, "# device reason\n", 16) && strcmp(buf, "# device reason"))
		TH_LOG("%s", buf);
	n = nvme_enumerate(fns, MAX_NVME);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "\n%.63s BAR ", fns[i].pci);
		line = strstr(buf, want);
		if (line) {
			/* a copy: @buf stays whole for the next function */
			line += strlen(fns[i].pci) + 2;
			snprintf(one, sizeof(one), "%.*s", (int)strcspn(line, "\n"), line);
			line = one;
		}
		if (!unmappable() || !declared_cmb(&fns[i])) {
			EXPECT_TRUE(!line || !strstr(line, REFUSAL)) TH_LOG("%s", line);
			continue;
		}
		ASSERT_NE(NULL, line) TH_LOG("no line for %s in:\n%s", fns[i].pci, buf);
		EXPECT_NE(NULL, strstr(line, REFUSAL)) TH_LOG("%s", line);
		ASSERT_EQ(1, kmsg_grep(fns[i].pci, REFUSAL, logged, sizeof(logged)));
		EXPECT_NE(NULL, strstr(logged, line)) TH_LOG("%s against %s", line, logged);
	}
}

/* Without its CMB as p2pmem, the controller still does I/O. */
TEST(nvme_works_without_p2pmem)
{
	const size_t len = 128 * 1024;
	struct nvme_fn fns[MAX_NVME];
	int i, n, tested = 0;
	char state[32], path[PATH_MAX];
	void *wr, *rd;

	ASSERT_EQ(0, posix_memalign(&wr, 4096, len));
	ASSERT_EQ(0, posix_memalign(&rd, 4096, len));
	n = nvme_enumerate(fns, MAX_NVME);
	for (i = 0; i < n; i++) {
		if (!declared_cmb(&fns[i]))
			continue;
		ASSERT_NE(0, fns[i].ns[0]) TH_LOG("%s has no namespace", fns[i].ctrl);
		snprintf(path, sizeof(path), NVME_CLASS "/%s/state", fns[i].ctrl);
		ASSERT_EQ(0, read_text(path, state, sizeof(state)));
		EXPECT_STREQ("live", state);
		fill_pattern(wr, len, 0x6d617070 + i);
		memset(rd, 0, len);
		ASSERT_EQ((ssize_t)len, direct_io(fns[i].ns, true, wr, len, 40 << 20));
		ASSERT_EQ((ssize_t)len, direct_io(fns[i].ns, false, rd, len, 40 << 20));
		EXPECT_EQ(0, memcmp(wr, rd, len)) TH_LOG("%s", fns[i].ns);
		tested++;
	}
	EXPECT_TRUE(!strcmp(p2p_expect(), "none") || tested >= 1);
	free(wr);
	free(rd);
}

TEST_HARNESS_MAIN
