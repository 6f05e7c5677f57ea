// SPDX-License-Identifier: GPL-2.0
/*
 * A short human report of the machine's peer-to-peer memory: providers,
 * which NVMe functions can DMA into each provider's memory (and how, when
 * the kernel has the P2PDMA debugfs view), and one P2P copy verified byte for
 * byte.  Used by `make`; not a test.
 */
#define _GNU_SOURCE
#include <time.h>

#include "p2pdma_util.h"

#define XFER	(64 * 1024)
#define DEBUGFS	"/sys/kernel/debug/p2pdma"

static void show_providers(struct nvme_fn *fns, int n)
{
	uint64_t size, avail, pub;
	int i, found = 0;

	printf("providers:\n");
	for (i = 0; i < n; i++) {
		if (!has_p2pmem(fns[i].pci))
			continue;
		found++;
		if (p2pmem_read(fns[i].pci, "size", &size) ||
		    p2pmem_read(fns[i].pci, "available", &avail) ||
		    p2pmem_read(fns[i].pci, "published", &pub)) {
			printf("  %s (%s): unreadable p2pmem attributes\n",
			       fns[i].pci, fns[i].ctrl);
			continue;
		}
		printf("  %s (%s): size %llu KiB, available %llu KiB, published %s\n",
		       fns[i].pci, fns[i].ctrl, (unsigned long long)size >> 10,
		       (unsigned long long)avail >> 10, pub ? "yes" : "no");
	}
	if (!found)
		printf("  none\n");
}

/* Can @client's namespace DMA into p2pmem of @prov? Returns 0 or -errno. */
static int try_pair(struct nvme_fn *prov, struct nvme_fn *client)
{
	void *p = p2pmem_map(prov->pci, 4096);
	ssize_t n;

	if (p == MAP_FAILED)
		return -errno;
	n = direct_io(client->ns, false, p, 4096, 0);
	munmap(p, 4096);
	return n == 4096 ? 0 : n < 0 ? (int)n : -EIO;
}

/*
 * How the kernel says @client reaches @prov, from the P2PDMA debugfs view
 * ("provider client map-type distance reason") when the kernel has one.
 */
static void pair_verdict(const char *prov, const char *client, char *buf, size_t len)
{
	char p[64], c[64], map[64], line[512];
	int off, dist;
	FILE *f;

	snprintf(buf, len, "%s", "how: this kernel has no P2PDMA debugfs view");
	f = fopen(DEBUGFS "/paths", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %63s %63s %d %n", p, c, map, &dist, &off) != 4 ||
		    strcmp(p, prov) || strcmp(c, client))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(map, "bus-address"))
			snprintf(buf, len, "by bus address, distance %d", dist);
		else if (!strcmp(map, "through-host-bridge"))
			snprintf(buf, len, "through the host bridge, distance %d", dist);
		else
			snprintf(buf, len, "kernel refuses: %.400s", line + off);
	}
	fclose(f);
}

static void show_pairs(struct nvme_fn *fns, int n)
{
	char buf[512];
	int i, j, ret;

	printf("pairs (client namespace DMA into provider memory):\n");
	for (i = 0; i < n; i++) {
		if (!has_p2pmem(fns[i].pci))
			continue;
		for (j = 0; j < n; j++) {
			if (!fns[j].ns[0])
				continue;
			ret = try_pair(&fns[i], &fns[j]);
			pair_verdict(fns[i].pci, fns[j].pci, buf, sizeof(buf));
			printf("  %s -> %s: %s (%s)\n", fns[j].ctrl, fns[i].pci,
			       ret ? strerror(-ret) : "P2P works", buf);
		}
	}
}

/* One verified transfer: NVMe A -> p2pmem -> NVMe B. */
static int verified_copy(struct nvme_fn *fns, int n)
{
	int i, prov = first_provider(fns, n), a = -1, b = -1;
	void *ref, *ram, *p2p;
	int ret = 1;

	for (i = 0; i < n; i++) {
		if (i == prov || !fns[i].ns[0])
			continue;
		if (a < 0)
			a = i;
		else if (b < 0)
			b = i;
	}
	if (prov < 0 || b < 0) {
		printf("transfer: not possible here (no provider or too few peers)\n");
		return 0;
	}
	ref = malloc(XFER);
	if (!ref || posix_memalign(&ram, 4096, XFER))
		return 1;
	p2p = p2pmem_map(fns[prov].pci, XFER);
	if (p2p == MAP_FAILED) {
		printf("transfer: mmap of p2pmem failed: %s\n", strerror(errno));
		goto out;
	}
	fill_pattern(ref, XFER, time(NULL));
	memcpy(ram, ref, XFER);
	if (direct_io(fns[a].ns, true, ram, XFER, 0) != XFER ||
	    direct_io(fns[a].ns, false, p2p, XFER, 0) != XFER ||
	    direct_io(fns[b].ns, true, p2p, XFER, 0) != XFER) {
		printf("transfer: %s -> p2pmem of %s -> %s: refused or failed (%s)\n",
		       fns[a].ns, fns[prov].pci, fns[b].ns, strerror(errno));
		ret = 0;
		goto unmap;
	}
	memset(ram, 0, XFER);
	if (direct_io(fns[b].ns, false, ram, XFER, 0) == XFER && !memcmp(ram, ref, XFER)) {
		printf("transfer: %s -> p2pmem of %s -> %s: %d KiB, verified byte for byte\n",
		       fns[a].ns, fns[prov].pci, fns[b].ns, XFER >> 10);
		ret = 0;
	} else {
		printf("transfer: %s -> p2pmem of %s -> %s: DATA MISMATCH\n",
		       fns[a].ns, fns[prov].pci, fns[b].ns);
	}
unmap:
	munmap(p2p, XFER);
out:
	free(ram);
	free(ref);
	return ret;
}

int main(void)
{
	struct nvme_fn fns[MAX_NVME];
	int i, n = nvme_enumerate(fns, MAX_NVME);

	printf("P2PDMA report, topology %s\n", getenv("P2PDMA_TOPO") ?: "?");
	printf("NVMe functions:\n");
	for (i = 0; i < n; i++)
		printf("  %s %s %s CMB %llu KiB\n", fns[i].pci, fns[i].ctrl,
		       fns[i].ns[0] ? fns[i].ns : "(no namespace)",
		       (unsigned long long)fns[i].cmb_bytes >> 10);
	show_providers(fns, n);
	show_pairs(fns, n);
	return verified_copy(fns, n);
}
