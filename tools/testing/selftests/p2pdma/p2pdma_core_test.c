// SPDX-License-Identifier: GPL-2.0
/*
 * What the rewritten P2PDMA core adds on top of the p2pmem ABI: the
 * debugfs view of providers and of who can reach them, and the cache mode
 * of the kernel's mapping of provider memory.  A kernel without the
 * debugfs view (the base kernel) does not have these features: the tests
 * skip there.  Expectations come from sysfs, the BAR flags and the
 * topology the harness booted (P2PDMA_EXPECT, see p2pmem_test.c).
 */
#define _GNU_SOURCE
#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DBG		"/sys/kernel/debug/p2pdma"
#define PAT_LIST	"/sys/kernel/debug/x86/pat_memtype_list"
#define PTDUMP_ARM64	"/sys/kernel/debug/kernel_page_tables"
#define IORESOURCE_PREFETCH	0x2000

static bool expect(const char *what)
{
	return !strcmp(p2p_expect(), what);
}

static bool have_core(void)
{
	return access(DBG "/paths", R_OK) == 0;
}

/* Map type and distance of @client to @provider in the paths view. */
static int dbg_path(const char *provider, const char *client, char *map,
		    size_t len, int *dist)
{
	char p[64], c[64], m[64], line[512];
	int found = -ENOENT, d;
	FILE *f;

	f = fopen(DBG "/paths", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%63s %63s %63s %d", p, c, m, &d) != 4)
			continue;
		if (!strcmp(p, provider) && !strcmp(c, client)) {
			snprintf(map, len, "%s", m);
			*dist = d;
			found = 0;
		}
	}
	fclose(f);
	return found;
}

FIXTURE(core)
{
	struct nvme_fn fns[MAX_NVME];
	int n;
	int provider;
};

FIXTURE_SETUP(core)
{
	if (!have_core())
		SKIP(return, "this kernel has no P2PDMA debugfs view");
	self->n = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, self->n);
	if (self->provider < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
}

FIXTURE_TEARDOWN(core)
{
}

/* debugfs lists the provider with the numbers sysfs shows. */
TEST_F(core, providers_view_matches_sysfs)
{
	const char *pci = self->fns[self->provider].pci;
	uint64_t ssize, savail, spub;
	struct dbg_provider p;

	ASSERT_EQ(0, dbg_provider_line(pci, &p));
	ASSERT_EQ(0, p2pmem_read(pci, "size", &ssize));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &savail));
	ASSERT_EQ(0, p2pmem_read(pci, "published", &spub));
	EXPECT_EQ(ssize, p.size);
	EXPECT_EQ(savail, p.avail);
	EXPECT_EQ(spub, p.published);
}

/* The provider reaches itself by bus address, at distance 0. */
TEST_F(core, paths_view_self)
{
	const char *pci = self->fns[self->provider].pci;
	char map[64];
	int dist;

	ASSERT_EQ(0, dbg_path(pci, pci, map, sizeof(map), &dist));
	EXPECT_STREQ("bus-address", map);
	EXPECT_EQ(0, dist);
}

/* Every other NVMe function is reached the way the topology says. */
TEST_F(core, paths_view_matches_topology)
{
	const char *pci = self->fns[self->provider].pci;
	const char *want;
	char map[64];
	int i, dist;

	want = expect("bus") ? "bus-address" :
	       expect("host") ? "through-host-bridge" : "not-supported";
	for (i = 0; i < self->n; i++) {
		if (i == self->provider)
			continue;
		ASSERT_EQ(0, dbg_path(pci, self->fns[i].pci, map, sizeof(map), &dist));
		EXPECT_STREQ(want, map) TH_LOG("%s -> %s", self->fns[i].pci, pci);
		EXPECT_TRUE(strcmp(want, "not-supported") ? dist > 0 : dist == -1)
			TH_LOG("distance %d", dist);
	}
}

/* The kernel maps a prefetchable BAR write-combining, others uncached. */
TEST_F(core, cache_mode_follows_bar)
{
	unsigned long long s, e, flags, ps, pe;
	const char *pci = self->fns[self->provider].pci;
	int bar = CMBLOC_BIR(self->fns[self->provider].cmbloc);
	char line[256], type[64];
	bool found = false;
	FILE *f;

	ASSERT_EQ(0, bar_resource(pci, bar, &s, &e, &flags));

	f = fopen(PAT_LIST, "r");
	if (!f)
		SKIP(return, "no %s (not x86 with PAT)", PAT_LIST);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &ps, &pe, type) != 3)
			continue;
		if (ps < s || pe > e + 1)	/* PAT ends are exclusive */
			continue;
		found = true;
		EXPECT_STREQ(flags & IORESOURCE_PREFETCH ? "write-combining" :
			     "uncached-minus", type) TH_LOG("%s", line);
	}
	fclose(f);
	EXPECT_TRUE(found) TH_LOG("no PAT entry inside BAR %d %#llx-%#llx", bar, s, e);
}

/*
 * Bytes of the kernel's linear map whose memory attribute is exactly
 * @attr, from the arm64 page table dump (arch/arm64/mm/ptdump.c names
 * them "MEM/NORMAL-NC", "DEVICE/nGnRnE" and so on).
 */
static long long linear_map_bytes(const char *attr)
{
	unsigned long long s, e, total = 0;
	size_t n = strlen(attr);
	char line[512], *a;
	bool in = false;
	FILE *f;

	f = fopen(PTDUMP_ARM64, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "---[ Linear Mapping start ]---"))
			in = true;
		else if (strstr(line, "---[ Linear Mapping end ]---"))
			in = false;
		if (!in || sscanf(line, "0x%llx-0x%llx", &s, &e) != 2)
			continue;
		a = strstr(line, attr);
		if (a && (a[n] == '\n' || a[n] == ' ' || !a[n]))
			total += e - s;
	}
	fclose(f);
	return total;
}

/*
 * arm64 has no PAT: the attribute is in the page tables.  The provider's
 * memory is in the linear map as Normal Non-cacheable memory for a
 * prefetchable BAR and as Device memory otherwise, all of it and nothing
 * else of that kind.
 */
TEST_F(core, linear_map_attribute_follows_bar)
{
	const char *pci = self->fns[self->provider].pci;
	int bar = CMBLOC_BIR(self->fns[self->provider].cmbloc);
	unsigned long long s, e, flags;
	struct dbg_provider p;
	const char *want;

	if (access(PTDUMP_ARM64, R_OK))
		SKIP(return, "no %s (the arm64 page table dump)", PTDUMP_ARM64);
	ASSERT_EQ(0, bar_resource(pci, bar, &s, &e, &flags));
	ASSERT_EQ(0, dbg_provider_line(pci, &p));
	want = flags & IORESOURCE_PREFETCH ? "MEM/NORMAL-NC" : "DEVICE/nGnRnE";
	EXPECT_STREQ(flags & IORESOURCE_PREFETCH ? "wc" : "uc", p.modes);
	EXPECT_EQ((long long)p.size, linear_map_bytes(want)) TH_LOG("%s", want);
}

TEST_HARNESS_MAIN
