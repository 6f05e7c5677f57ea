// SPDX-License-Identifier: GPL-2.0
/*
 * The NVMe-oF target's per-namespace "p2pmem" configfs attribute, which the
 * target hands to the P2PDMA core to parse (a boolean word, or the name of
 * a PCI device that provides p2pmem) and to check (can the namespace's
 * block device reach that memory?) when the namespace is enabled.
 *
 * Expectations come from the topology (P2PDMA_EXPECT, see p2pmem_test.c)
 * and from the hardware: which NVMe function has a CMB.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define NVMET	"/sys/kernel/config/nvmet/subsystems"

static bool expect(const char *what)
{
	return !strcmp(p2p_expect(), what);
}

static bool expect_peer_p2p(void)
{
	return expect("bus") || expect("host");
}

FIXTURE(nvmet)
{
	struct nvme_fn fns[MAX_NVME];
	int provider;		/* index of the provider in fns, or -1 */
	int peer;		/* an NVMe function that is not the provider */
	char subsys[PATH_MAX];
	char ns[PATH_MAX];
	char p2pmem[PATH_MAX + 16];
	char enable[PATH_MAX + 16];
};

FIXTURE_SETUP(nvmet)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int n;

	self->ns[0] = '\0';
	ASSERT_EQ(0, stat(NVMET, &st)) TH_LOG("no nvmet configfs (CONFIG_NVME_TARGET)");
	n = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, n);
	self->peer = first_peer(self->fns, n, self->provider);
	ASSERT_GE(self->peer, 0);

	snprintf(self->subsys, sizeof(self->subsys), NVMET "/p2ptest-%d", getpid());
	ASSERT_EQ(0, mkdir(self->subsys, 0755)) TH_LOG("%s: %s", self->subsys, strerror(errno));
	snprintf(self->ns, sizeof(self->ns), "%.4000s/namespaces/1", self->subsys);
	ASSERT_EQ(0, mkdir(self->ns, 0755)) TH_LOG("%s: %s", self->ns, strerror(errno));
	snprintf(path, sizeof(path), "%s/device_path", self->ns);
	ASSERT_EQ(0, write_text(path, self->fns[self->peer].ns));
	snprintf(self->p2pmem, sizeof(self->p2pmem), "%s/p2pmem", self->ns);
	snprintf(self->enable, sizeof(self->enable), "%s/enable", self->ns);
	ASSERT_EQ(0, access(self->p2pmem, F_OK)) TH_LOG("no p2pmem attribute");
}

FIXTURE_TEARDOWN(nvmet)
{
	if (!self->ns[0])
		return;
	write_text(self->enable, "0");
	rmdir(self->ns);
	rmdir(self->subsys);
}

static void read_attr(struct __test_metadata *_metadata, const char *path,
		      char *buf, size_t len)
{
	ASSERT_EQ(0, read_text(path, buf, len)) TH_LOG("read %s", path);
}

/* Boolean words switch p2pmem on and off; the attribute reads them back. */
TEST_F(nvmet, boolean_words)
{
	static const struct {
		const char *word;
		bool on;
	} words[] = {
		{ "1", true }, { "0", false }, { "y", true }, { "n", false },
		{ "yes", true }, { "no", false }, { "on", true }, { "off", false },
		{ "Y\n", true }, { "N\n", false }, { "true", true }, { "false", false },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++) {
		ASSERT_EQ(0, write_text(self->p2pmem, words[i].word))
			TH_LOG("'%s'", words[i].word);
		read_attr(_metadata, self->p2pmem, buf, sizeof(buf));
		EXPECT_STREQ(words[i].on ? "1" : "0", buf) TH_LOG("after '%s'", words[i].word);
	}
}

/* The name of a provider selects it, and reads back as that name. */
TEST_F(nvmet, provider_by_name)
{
	char buf[64];

	if (self->provider < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	ASSERT_EQ(0, write_text(self->p2pmem, self->fns[self->provider].pci));
	read_attr(_metadata, self->p2pmem, buf, sizeof(buf));
	EXPECT_STREQ(self->fns[self->provider].pci, buf);
	ASSERT_EQ(0, write_text(self->p2pmem, "0"));
	read_attr(_metadata, self->p2pmem, buf, sizeof(buf));
	EXPECT_STREQ("0", buf);
}

/* A device that does not exist, or has no p2pmem, is refused clearly. */
TEST_F(nvmet, bad_device_refused)
{
	char buf[64];

	ASSERT_EQ(0, write_text(self->p2pmem, "0"));
	EXPECT_EQ(-ENODEV, write_text(self->p2pmem, "0000:7f:1f.7"));
	EXPECT_EQ(-ENODEV, write_text(self->p2pmem, self->fns[self->peer].pci));
	EXPECT_EQ(-ENODEV, write_text(self->p2pmem, "bogus-device"));
	read_attr(_metadata, self->p2pmem, buf, sizeof(buf));
	EXPECT_STREQ("0", buf) TH_LOG("a refused write changed the setting");
}

/*
 * A feature the base kernel lacks (it skips there): only whole boolean
 * words count.  The base reads the first letters, so that the typo of a
 * device name "nvme0" turned p2pmem off and "10" turned it on.
 */
TEST_F(nvmet, typos_refused)
{
	static const char * const typos[] = {
		"device", "nvme0", "10", "enable-later", "yes-please", "offline",
	};
	char buf[64];
	size_t i;

	if (access("/sys/kernel/debug/p2pdma/paths", R_OK))
		SKIP(return, "the base kernel takes these for booleans");
	for (i = 0; i < ARRAY_SIZE(typos); i++) {
		ASSERT_EQ(0, write_text(self->p2pmem, i & 1 ? "1" : "0"));
		EXPECT_EQ(-ENODEV, write_text(self->p2pmem, typos[i])) TH_LOG("'%s'", typos[i]);
		read_attr(_metadata, self->p2pmem, buf, sizeof(buf));
		EXPECT_STREQ(i & 1 ? "1" : "0", buf) TH_LOG("'%s' changed the setting", typos[i]);
	}
}

/* Enabling checks that the namespace's device can reach the provider. */
TEST_F(nvmet, enable_with_provider)
{
	int ret;

	if (self->provider < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	ASSERT_EQ(0, write_text(self->p2pmem, self->fns[self->provider].pci));
	ret = write_text(self->enable, "1");
	EXPECT_EQ(expect_peer_p2p() ? 0 : -EINVAL, ret);
	if (ret == 0)
		EXPECT_EQ(-EBUSY, write_text(self->p2pmem, "0"));
}

/*
 * Without a device named, enabling finds a published provider.  Where
 * none is reachable, the base kernel refuses to enable the namespace
 * (EINVAL).  Ours, a feature the base lacks, enables it and logs one line
 * saying that its data will be staged in system memory.
 */
TEST_F(nvmet, enable_finds_provider)
{
	char line[256];
	int kmsg, n = 0;
	ssize_t len;

	ASSERT_EQ(0, write_text(self->p2pmem, "1"));
	if (expect_peer_p2p()) {
		EXPECT_EQ(0, write_text(self->enable, "1"));
		return;
	}
	if (access("/sys/kernel/debug/p2pdma/paths", R_OK)) {
		EXPECT_EQ(-EINVAL, write_text(self->enable, "1")) TH_LOG("the base kernel");
		return;
	}
	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);
	EXPECT_EQ(0, write_text(self->enable, "1"));
	while ((len = read(kmsg, line, sizeof(line) - 1)) > 0 || (len < 0 && errno == EPIPE)) {
		if (len <= 0)
			continue;
		line[len] = '\0';
		n += !!strstr(line, "staging its data in system memory");
	}
	close(kmsg);
	EXPECT_EQ(1, n) TH_LOG("log lines about the fallback");
}

/* A file-backed namespace cannot take part in P2P: enabling refuses. */
TEST_F(nvmet, file_backed_refuses_p2pmem)
{
	char file[64], path[PATH_MAX + 32];
	int fd;

	snprintf(file, sizeof(file), "/tmp/nvmet-file-%d", getpid());
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);
	snprintf(path, sizeof(path), "%s/device_path", self->ns);
	ASSERT_EQ(0, write_text(path, file));
	snprintf(path, sizeof(path), "%s/buffered_io", self->ns);
	ASSERT_EQ(0, write_text(path, "1"));
	ASSERT_EQ(0, write_text(self->p2pmem, "1"));
	EXPECT_EQ(-EINVAL, write_text(self->enable, "1"));
	/* The file itself is fine as a namespace. */
	ASSERT_EQ(0, write_text(self->p2pmem, "0"));
	EXPECT_EQ(0, write_text(self->enable, "1"));
	EXPECT_EQ(0, write_text(self->enable, "0"));
	unlink(file);
}

/* p2pmem off: enabling never depends on P2P. */
TEST_F(nvmet, enable_without_p2pmem)
{
	ASSERT_EQ(0, write_text(self->p2pmem, "0"));
	EXPECT_EQ(0, write_text(self->enable, "1"));
}

TEST_HARNESS_MAIN
