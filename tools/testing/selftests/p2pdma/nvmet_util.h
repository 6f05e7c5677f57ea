/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the tests and the benchmark that run I/O through an NVMe-oF
 * target: export a block device through nvmet's configfs on a loop port,
 * connect an nvme-loop host controller to it, and read how the target
 * staged the data (the controller's "p2pmem" file in nvmet's debugfs).
 *
 * With nvme-loop's "staging" parameter set, the target side of a new
 * controller allocates its own data buffers as an RDMA target does, from
 * p2pmem when the namespace uses it: that is the data path these helpers
 * exist for.
 */
#ifndef NVMET_UTIL_H
#define NVMET_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p2pdma_util.h"

#define NVMET_CFS	"/sys/kernel/config/nvmet"
#define NVMET_DBG	"/sys/kernel/debug/nvmet"
#define LOOP_STAGING	"/sys/module/nvme_loop/parameters/staging"

/* Set nvme-loop's staging mode; the previous value in *@was if not NULL. */
static inline int loop_staging(bool on, bool *was)
{
	char buf[8] = "";
	int fd;

	fd = open(LOOP_STAGING, O_RDONLY);
	if (fd < 0)
		return -errno;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 'N';
	close(fd);
	if (was)
		*was = buf[0] == 'Y';
	return write_text(LOOP_STAGING, on ? "1" : "0");
}

struct nvmet_loop {
	char nqn[64];
	char subsys[PATH_MAX];		/* configfs directories */
	char ns[PATH_MAX + 16];
	char port[PATH_MAX];
	char link[2 * PATH_MAX];
	int instance;			/* host controller nvme<instance>, or -1 */
	int cntlid;
	char ctrl[32];			/* "nvme<instance>" */
	char dev[64];			/* its namespace, /dev/nvme<instance>n1 */
	bool ns_made, port_made, linked;
};

/* The stage_stats of the target controller (see nvmet_ctrl_p2pmem_show). */
struct stage_stats {
	unsigned long long p2pmem, metadata, fallback, ram;
};

static inline int nvmet_attr(const char *dir, const char *attr, const char *val)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	return write_text(path, val);
}

/*
 * Export @device_path as namespace 1 of a new subsystem, with p2pmem set
 * to @p2pmem ("0", "1" or a provider's name), protection information
 * enabled on port and subsystem if @pi, on a new loop port @port_id.
 * Returns 0, or the -errno of the step that failed, *@step naming it.
 * nvmet_loop_remove() undoes whatever was done, also after a failure.
 */
static inline int nvmet_loop_export(struct nvmet_loop *l, int port_id,
				    const char *device_path, const char *p2pmem,
				    bool pi, const char **step)
{
	int ret;

	memset(l, 0, sizeof(*l));
	l->instance = -1;
	snprintf(l->nqn, sizeof(l->nqn), "p2pdma-loop-%d-%d", getpid(), port_id);
	snprintf(l->subsys, sizeof(l->subsys), NVMET_CFS "/subsystems/%s", l->nqn);
	snprintf(l->ns, sizeof(l->ns), "%s/namespaces/1", l->subsys);
	snprintf(l->port, sizeof(l->port), NVMET_CFS "/ports/%d", port_id);
	snprintf(l->link, sizeof(l->link), "%s/subsystems/%s", l->port, l->nqn);

	*step = "mkdir subsystem";
	if (mkdir(l->subsys, 0755))
		return -errno;
	*step = "attr_allow_any_host";
	ret = nvmet_attr(l->subsys, "attr_allow_any_host", "1");
	if (!ret && pi) {
		*step = "attr_pi_enable";
		ret = nvmet_attr(l->subsys, "attr_pi_enable", "1");
	}
	if (ret)
		return ret;
	*step = "mkdir namespace";
	if (mkdir(l->ns, 0755))
		return -errno;
	l->ns_made = true;
	*step = "device_path";
	ret = nvmet_attr(l->ns, "device_path", device_path);
	if (!ret) {
		*step = "p2pmem";
		ret = nvmet_attr(l->ns, "p2pmem", p2pmem);
	}
	if (!ret) {
		*step = "enable";
		ret = nvmet_attr(l->ns, "enable", "1");
	}
	if (ret)
		return ret;

	*step = "mkdir port";
	if (mkdir(l->port, 0755))
		return -errno;
	l->port_made = true;
	*step = "addr_trtype";
	ret = nvmet_attr(l->port, "addr_trtype", "loop");
	if (!ret && pi) {
		*step = "param_pi_enable";
		ret = nvmet_attr(l->port, "param_pi_enable", "1");
	}
	if (ret)
		return ret;
	*step = "link the subsystem to the port";
	if (symlink(l->subsys, l->link))
		return -errno;
	l->linked = true;
	return 0;
}

/* Wait up to @ms for @dev to open: its node may be a previous disk's. */
static inline bool wait_open(const char *dev, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i, fd;

	for (i = 0; i <= ms / 10; i++) {
		fd = open(dev, O_RDONLY);
		if (fd >= 0) {
			close(fd);
			return true;
		}
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Connect a loop host controller; 0 once its namespace opens. */
static inline int nvmet_loop_connect(struct nvmet_loop *l)
{
	char opts[128], reply[128] = "";
	ssize_t n;
	int fd;

	fd = open("/dev/nvme-fabrics", O_RDWR);
	if (fd < 0)
		return -errno;
	snprintf(opts, sizeof(opts), "transport=loop,nqn=%s,nr_io_queues=2", l->nqn);
	if (write(fd, opts, strlen(opts)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	n = read(fd, reply, sizeof(reply) - 1);
	close(fd);
	if (n <= 0 || sscanf(reply, "instance=%d,cntlid=%d", &l->instance, &l->cntlid) != 2)
		return -EPROTO;
	snprintf(l->ctrl, sizeof(l->ctrl), "nvme%d", l->instance);
	snprintf(l->dev, sizeof(l->dev), "/dev/nvme%dn1", l->instance);
	return wait_open(l->dev, 10000) ? 0 : -ETIMEDOUT;
}

static inline void nvmet_loop_disconnect(struct nvmet_loop *l)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	char path[PATH_MAX];
	int i;

	if (l->instance < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/nvme/%s/delete_controller", l->ctrl);
	write_text(path, "1");
	/* The next controller may get the same name: let this one go first. */
	snprintf(path, sizeof(path), "/sys/class/nvme/%s", l->ctrl);
	for (i = 0; i < 1000 && !access(path, F_OK); i++)
		nanosleep(&ts, NULL);
	for (i = 0; i < 1000 && !access(l->dev, F_OK); i++)
		nanosleep(&ts, NULL);
	l->instance = -1;
}

/* Undo nvmet_loop_export(); the step that failed, or NULL. */
static inline const char *nvmet_loop_remove(struct nvmet_loop *l)
{
	const char *failed = NULL;

	nvmet_loop_disconnect(l);
	if (l->linked && unlink(l->link))
		failed = "unlink the subsystem from the port";
	if (l->port_made && rmdir(l->port) && !failed)
		failed = "rmdir port";
	if (l->ns_made) {
		nvmet_attr(l->ns, "enable", "0");
		if (rmdir(l->ns) && !failed)
			failed = "rmdir namespace";
	}
	if (l->subsys[0] && rmdir(l->subsys) && !failed)
		failed = "rmdir subsystem";
	memset(l, 0, sizeof(*l));
	l->instance = -1;
	return failed;
}

/* How the target staged the controller's requests so far; 0 or -errno. */
static inline int nvmet_loop_stats(const struct nvmet_loop *l, struct stage_stats *s)
{
	char path[PATH_MAX], key[32];
	unsigned long long v;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), NVMET_DBG "/%s/ctrl%d/p2pmem", l->nqn, l->cntlid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	memset(s, 0, sizeof(*s));
	while (fscanf(f, "%31s %llu", key, &v) == 2) {
		found++;
		if (!strcmp(key, "p2pmem"))
			s->p2pmem = v;
		else if (!strcmp(key, "metadata"))
			s->metadata = v;
		else if (!strcmp(key, "fallback"))
			s->fallback = v;
		else if (!strcmp(key, "ram"))
			s->ram = v;
		else
			found = -100;
	}
	fclose(f);
	return found == 4 ? 0 : -EPROTO;
}

#endif /* NVMET_UTIL_H */
