// SPDX-License-Identifier: GPL-2.0
/*
 * Removing a provider while user space maps its memory: unbinding the
 * driver must neither crash nor hang, must revoke the mapping (a later
 * access gets SIGBUS), and binding the driver again must bring the whole
 * pool back.  Runs last in the plan: it unbinds the provider's driver.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define MAPLEN	(64 * 1024)

static int driver_write(const char *pci, const char *what)
{
	char path[PATH_MAX], drv[PATH_MAX + 16];
	int fd, ret = 0;

	/* Unbind through the device's driver, bind through the NVMe driver. */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", pci);
	if (!strcmp(what, "bind"))
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/nvme");
	snprintf(drv, sizeof(drv), "%s/%s", path, what);
	fd = open(drv, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, pci, strlen(pci)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Wait up to @secs for p2pmem of @pci to (re)appear with its full size. */
static bool wait_p2pmem(const char *pci, uint64_t size, int secs)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint64_t v;
	int i;

	for (i = 0; i < secs * 10; i++) {
		if (has_p2pmem(pci) && !p2pmem_read(pci, "size", &v) && v == size)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Touch @p in a child; return the signal that killed it, or 0. */
static int touch_in_child(void *p)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		io_write64(p, 1);
		_exit(io_read64(p) == 1 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

TEST(unbind_with_live_mapping)
{
	struct nvme_fn fns[MAX_NVME];
	int p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	uint64_t size, avail, after;
	const char *pci;
	void *map;

	if (p < 0) {
		ASSERT_TRUE(!strcmp(p2p_expect(), "none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	pci = fns[p].pci;
	ASSERT_EQ(0, p2pmem_read(pci, "size", &size));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &avail));

	map = p2pmem_map(pci, MAPLEN);
	ASSERT_NE(MAP_FAILED, map);
	io_write64(map, 0xabcdef);
	ASSERT_EQ(0, touch_in_child(map)) TH_LOG("the mapping works before unbind");

	ASSERT_EQ(0, driver_write(pci, "unbind"));
	EXPECT_FALSE(has_p2pmem(pci)) TH_LOG("p2pmem/ outlived the driver");
	EXPECT_EQ(SIGBUS, touch_in_child(map)) TH_LOG("access after unbind");

	ASSERT_EQ(0, driver_write(pci, "bind"));
	ASSERT_TRUE(wait_p2pmem(pci, size, 20)) TH_LOG("p2pmem did not come back");
	ASSERT_EQ(0, p2pmem_read(pci, "available", &after));
	EXPECT_EQ(avail, after) TH_LOG("the pool is not whole again");
	EXPECT_EQ(0, munmap(map, MAPLEN));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &after));
	EXPECT_EQ(avail, after);
}

TEST_HARNESS_MAIN
