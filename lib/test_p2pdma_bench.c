// SPDX-License-Identifier: GPL-2.0
/*
 * Micro-benchmarks of the PCI peer-to-peer DMA (P2PDMA) API.
 *
 * Only the public API is used (pci_alloc_p2pmem(), pci_p2pmem_alloc_sgl(),
 * pci_p2pdma_distance(), dma_map_sg(), ...), so the same source builds as
 * an out-of-tree module against any kernel that has that API, and the
 * numbers of two kernels can be compared.
 *
 * At load the module takes a reference on the provider, the first PCI
 * function for which pci_has_p2pmem() is true (no provider: -ENODEV), and
 * on the peer, the first other NVMe function that can reach the provider's
 * memory (or, failing that, the provider itself).
 *
 * Protocol, through /sys/kernel/debug/p2pdma_bench/run:
 *
 *   write one line "<command> [key=value ...]"; the write runs the command
 *   synchronously (for about "ms" milliseconds) and returns when it is
 *   done, then a read returns one result line.  A write rewinds the file,
 *   so the same descriptor can be used for several runs; a new descriptor
 *   starts with the result of the last run of any descriptor.  Runs are
 *   serialised.
 *
 *   alloc_free [size=4096] [threads=1] [ms=500]
 *	each of "threads" kthreads (thread i bound to the i-th online CPU,
 *	modulo their number, all released at once) loops
 *	pci_alloc_p2pmem(size) + pci_free_p2pmem() until the deadline.
 *	-> "ops=<pairs> ns=<elapsed> fails=<failed allocations>"
 *
 *   alloc_sgl [len=1048576] [ms=500]
 *	loops pci_p2pmem_alloc_sgl(len) + pci_p2pmem_free_sgl().
 *	-> "ops=<pairs> ns=<elapsed> fails=<failed allocations>"
 *
 *   map_sg [nents=256] [ms=500]
 *	builds one scatterlist of "nents" separately allocated pages of
 *	p2pmem and loops dma_map_sg() + dma_unmap_sg() on the peer.
 *	-> "ops=<maps> segs=<ops * nents> ns=<elapsed>"
 *
 *   copy_to_iomem [len=1048576] [ms=500]
 *	loops sg_copy_from_buffer() from a RAM buffer into an sgl of
 *	p2pmem.  Only built when the scatterlist helpers can copy to I/O
 *	memory (SG_MITER_IOMEM is defined); otherwise -> "unsupported=1".
 *	-> "ops=<copies> bytes=<bytes copied> ns=<elapsed>"
 *
 *   memset_io [len=16777216] [ms=500]
 *	allocates "len" bytes with pci_alloc_p2pmem() once and loops
 *	memset_io() of zeroes over all of them: the device store bandwidth
 *	that zeroing p2pmem for a user mapping can reach at best.
 *	-> "ops=<passes> bytes=<ops * len> ns=<elapsed>"
 *
 *   hold [len=1048576]
 *	allocates "len" bytes with pci_alloc_p2pmem() and keeps them until
 *	"release" or until the module is unloaded: a kernel user that holds
 *	memory while its provider goes away.  Only one hold at a time
 *	("error=EBUSY" otherwise).
 *	-> "held=<len>"
 *
 *   release
 *	frees what "hold" keeps ("error=ENOENT" when nothing is held).
 *	-> "released=<len>"
 *
 *   A command that fails gives "error=<errno name>", e.g. "error=ENOMEM",
 *   or "error=EREMOTEIO" when dma_map_sg() refuses the mapping.  An unknown
 *   command or key, or a value out of range, fails the write with -EINVAL.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#define BENCH_CMD_MAX		128	/* longest command line, with its NUL */
#define BENCH_RESULT_MAX	128	/* longest result line, with its NUL */
#define BENCH_BATCH		16	/* alloc_free pairs between clock reads */

enum bench_key {
	KEY_SIZE,
	KEY_THREADS,
	KEY_MS,
	KEY_LEN,
	KEY_NENTS,
	KEY_NR
};

/* The arguments a command may take, their defaults and their limits. */
static const struct bench_key_desc {
	const char *name;
	u32 def;
	u32 min;
	u32 max;
} bench_keys[KEY_NR] = {
	[KEY_SIZE]	= { "size",	SZ_4K,	1, SZ_256M },
	[KEY_THREADS]	= { "threads",	1,	1, 64 },
	[KEY_MS]	= { "ms",	500,	1, 60000 },
	[KEY_LEN]	= { "len",	SZ_1M,	1, SZ_256M },
	[KEY_NENTS]	= { "nents",	256,	1, 16384 },
};

struct bench_cmd {
	const char *name;
	unsigned long keys;	/* BIT(KEY_*) of the keys it accepts */
	int (*run)(const u32 *arg, char *res, size_t len);
	u32 def[KEY_NR];	/* its own defaults; 0: bench_keys[].def */
};

/* Per open file: the result line the next read returns. */
struct bench_file {
	char result[BENCH_RESULT_MAX];
};

static struct pci_dev *provider;
static struct pci_dev *peer;
static struct dentry *bench_dir;

static DEFINE_MUTEX(bench_mutex);	/* one run at a time, and @held */
static void *held;			/* memory kept by "hold" */
static u32 held_len;
static DEFINE_SPINLOCK(result_lock);	/* last_result, bench_file.result */
static char last_result[BENCH_RESULT_MAX];

/* ---- alloc_free: pci_alloc_p2pmem() + pci_free_p2pmem() on N CPUs ---- */

struct bench_alloc_run {
	size_t size;
	u64 deadline;		/* ktime_get_ns(); written before @go */
	atomic_t pending;	/* threads not yet at the barrier */
	struct completion ready;	/* all threads are at the barrier */
	struct completion go;		/* released by the caller */
};

struct bench_thread {
	struct bench_alloc_run *run;
	struct task_struct *task;
	u64 ops;
	u64 fails;
	u64 end;
};

static int bench_alloc_thread(void *data)
{
	struct bench_thread *t = data;
	struct bench_alloc_run *run = t->run;
	unsigned int i;
	void *addr;

	if (atomic_dec_and_test(&run->pending))
		complete(&run->ready);
	wait_for_completion(&run->go);

	do {
		for (i = 0; i < BENCH_BATCH; i++) {
			addr = pci_alloc_p2pmem(provider, run->size);
			if (!addr) {
				t->fails++;
				continue;
			}
			pci_free_p2pmem(provider, addr, run->size);
			t->ops++;
		}
		cond_resched();
		t->end = ktime_get_ns();
	} while (t->end < run->deadline);

	return 0;
}

/*
 * Create @n threads, thread i bound to the (i % online)-th online CPU, and
 * leave them unstarted.  Stops at the first failure: the caller stops the
 * threads that were created.
 */
static int bench_spawn(struct bench_thread *t, unsigned int n)
{
	struct task_struct *task;
	unsigned int i, cpu;
	int err = 0;

	cpus_read_lock();
	for (i = 0; i < n; i++) {
		cpu = cpumask_nth(i % num_online_cpus(), cpu_online_mask);
		task = kthread_create_on_node(bench_alloc_thread, &t[i],
					      cpu_to_node(cpu), "p2pbench/%u",
					      i);
		if (IS_ERR(task)) {
			err = PTR_ERR(task);
			break;
		}
		kthread_bind(task, cpu);
		get_task_struct(task);
		t[i].task = task;
	}
	cpus_read_unlock();

	return err;
}

static int bench_alloc_free(const u32 *arg, char *res, size_t len)
{
	struct bench_alloc_run run = { .size = arg[KEY_SIZE] };
	unsigned int i, n = arg[KEY_THREADS];
	u64 start = 0, end = 0, ops = 0, fails = 0;
	struct bench_thread *t;
	int err;

	t = kcalloc(n, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		t[i].run = &run;
	atomic_set(&run.pending, n);
	init_completion(&run.ready);
	init_completion(&run.go);

	err = bench_spawn(t, n);
	if (!err) {
		for (i = 0; i < n; i++)
			wake_up_process(t[i].task);
		wait_for_completion(&run.ready);
		start = ktime_get_ns();
		run.deadline = start + (u64)arg[KEY_MS] * NSEC_PER_MSEC;
		complete_all(&run.go);
	}

	/*
	 * Waits for each started thread to return; a thread that was created
	 * but never woken is reaped without running.
	 */
	for (i = 0; i < n && t[i].task; i++) {
		kthread_stop_put(t[i].task);
		ops += t[i].ops;
		fails += t[i].fails;
		end = max(end, t[i].end);
	}
	kfree(t);
	if (err)
		return err;

	scnprintf(res, len, "ops=%llu ns=%llu fails=%llu", ops, end - start,
		  fails);
	return 0;
}

/*
 * Timer of the single-threaded runs: run the body until @ms milliseconds
 * have passed, yielding between iterations, and stop early on a fatal
 * signal (then the run reports -EINTR instead of a result).
 */
struct bench_timer {
	u64 start;
	u64 now;
	u64 deadline;
};

static void bench_timer_start(struct bench_timer *t, u32 ms)
{
	t->start = ktime_get_ns();
	t->now = t->start;
	t->deadline = t->start + (u64)ms * NSEC_PER_MSEC;
}

static bool bench_timer_running(struct bench_timer *t)
{
	cond_resched();
	t->now = ktime_get_ns();
	return t->now < t->deadline && !fatal_signal_pending(current);
}

static u64 bench_timer_ns(const struct bench_timer *t)
{
	return t->now - t->start;
}

/* ---- alloc_sgl: pci_p2pmem_alloc_sgl() + pci_p2pmem_free_sgl() ---- */

static int bench_alloc_sgl(const u32 *arg, char *res, size_t len)
{
	struct scatterlist *sgl;
	struct bench_timer t;
	u64 ops = 0, fails = 0;
	unsigned int nents;

	bench_timer_start(&t, arg[KEY_MS]);
	do {
		sgl = pci_p2pmem_alloc_sgl(provider, &nents, arg[KEY_LEN]);
		if (sgl) {
			pci_p2pmem_free_sgl(provider, sgl);
			ops++;
		} else {
			fails++;
		}
	} while (bench_timer_running(&t));

	if (fatal_signal_pending(current))
		return -EINTR;

	scnprintf(res, len, "ops=%llu ns=%llu fails=%llu", ops,
		  bench_timer_ns(&t), fails);
	return 0;
}

/* ---- map_sg: dma_map_sg() + dma_unmap_sg() of N pages on the peer ---- */

static void bench_free_pages(struct scatterlist *sgl, unsigned int n)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sg(sgl, sg, n, i)
		pci_free_p2pmem(provider, sg_virt(sg), PAGE_SIZE);
}

static int bench_map_sg(const u32 *arg, char *res, size_t len)
{
	unsigned int i, nents = arg[KEY_NENTS];
	struct scatterlist *sgl, *sg;
	struct bench_timer t;
	u64 ops = 0;
	void *addr;
	int err = 0;

	sgl = kvmalloc_array(nents, sizeof(*sgl), GFP_KERNEL);
	if (!sgl)
		return -ENOMEM;
	sg_init_table(sgl, nents);

	for_each_sg(sgl, sg, nents, i) {
		addr = pci_alloc_p2pmem(provider, PAGE_SIZE);
		if (!addr) {
			err = -ENOMEM;
			goto free;
		}
		sg_set_page(sg, virt_to_page(addr), PAGE_SIZE, 0);
	}

	bench_timer_start(&t, arg[KEY_MS]);
	do {
		if (!dma_map_sg(&peer->dev, sgl, nents, DMA_TO_DEVICE)) {
			err = -EREMOTEIO;
			goto free;
		}
		dma_unmap_sg(&peer->dev, sgl, nents, DMA_TO_DEVICE);
		ops++;
	} while (bench_timer_running(&t));

	if (fatal_signal_pending(current))
		err = -EINTR;
	else
		scnprintf(res, len, "ops=%llu segs=%llu ns=%llu", ops,
			  ops * nents, bench_timer_ns(&t));
free:
	/* @i is the number of pages allocated. */
	bench_free_pages(sgl, i);
	kvfree(sgl);
	return err;
}

/* ---- copy_to_iomem: sg_copy_from_buffer() into p2pmem ---- */

#ifdef SG_MITER_IOMEM
static int bench_copy_to_iomem(const u32 *arg, char *res, size_t len)
{
	u32 buflen = arg[KEY_LEN];
	u64 ops = 0, bytes = 0;
	struct bench_timer t;
	struct scatterlist *sgl;
	unsigned int nents;
	int err = 0;
	void *buf;

	sgl = pci_p2pmem_alloc_sgl(provider, &nents, buflen);
	if (!sgl)
		return -ENOMEM;
	buf = kvmalloc(buflen, GFP_KERNEL);
	if (!buf) {
		err = -ENOMEM;
		goto free_sgl;
	}
	memset(buf, 0x5a, buflen);

	bench_timer_start(&t, arg[KEY_MS]);
	do {
		bytes += sg_copy_from_buffer(sgl, nents, buf, buflen);
		ops++;
	} while (bench_timer_running(&t));

	if (fatal_signal_pending(current))
		err = -EINTR;
	else
		scnprintf(res, len, "ops=%llu bytes=%llu ns=%llu", ops, bytes,
			  bench_timer_ns(&t));
	kvfree(buf);
free_sgl:
	pci_p2pmem_free_sgl(provider, sgl);
	return err;
}
#else
/* Copying into p2pmem needs scatterlist helpers that know about I/O memory. */
static int bench_copy_to_iomem(const u32 *arg, char *res, size_t len)
{
	scnprintf(res, len, "unsupported=1");
	return 0;
}
#endif

/* ---- memset_io: zero one p2pmem buffer over and over ---- */

/*
 * pci_alloc_p2pmem() gives the kernel's mapping of BAR memory as a plain
 * pointer (the one virt_to_page() and pci_free_p2pmem() take); memset_io()
 * wants that same address typed as I/O memory.  The one place it is cast.
 */
static void __iomem *bench_p2pmem_iomem(void *addr)
{
	return (void __force __iomem *)addr;
}

static int bench_memset_io(const u32 *arg, char *res, size_t len)
{
	u32 buflen = arg[KEY_LEN];
	struct bench_timer t;
	void __iomem *io;
	u64 ops = 0;
	void *buf;
	int err = 0;

	buf = pci_alloc_p2pmem(provider, buflen);
	if (!buf)
		return -ENOMEM;
	io = bench_p2pmem_iomem(buf);

	bench_timer_start(&t, arg[KEY_MS]);
	do {
		memset_io(io, 0, buflen);
		ops++;
	} while (bench_timer_running(&t));

	if (fatal_signal_pending(current))
		err = -EINTR;
	else
		scnprintf(res, len, "ops=%llu bytes=%llu ns=%llu", ops,
			  ops * buflen, bench_timer_ns(&t));
	pci_free_p2pmem(provider, buf, buflen);
	return err;
}

/* ---- hold, release: memory kept across runs ---- */

static int bench_hold(const u32 *arg, char *res, size_t len)
{
	if (held)
		return -EBUSY;
	held = pci_alloc_p2pmem(provider, arg[KEY_LEN]);
	if (!held)
		return -ENOMEM;
	held_len = arg[KEY_LEN];
	scnprintf(res, len, "held=%u", held_len);
	return 0;
}

static void bench_release_held(void)
{
	pci_free_p2pmem(provider, held, held_len);
	held = NULL;
}

static int bench_release_cmd(const u32 *arg, char *res, size_t len)
{
	if (!held)
		return -ENOENT;
	scnprintf(res, len, "released=%u", held_len);
	bench_release_held();
	return 0;
}

/* ---- command parsing and the debugfs file ---- */

static const struct bench_cmd bench_cmds[] = {
	{ "alloc_free", BIT(KEY_SIZE) | BIT(KEY_THREADS) | BIT(KEY_MS),
	  bench_alloc_free },
	{ "alloc_sgl", BIT(KEY_LEN) | BIT(KEY_MS), bench_alloc_sgl },
	{ "map_sg", BIT(KEY_NENTS) | BIT(KEY_MS), bench_map_sg },
	{ "copy_to_iomem", BIT(KEY_LEN) | BIT(KEY_MS), bench_copy_to_iomem },
	{ "memset_io", BIT(KEY_LEN) | BIT(KEY_MS), bench_memset_io,
	  { [KEY_LEN] = SZ_16M } },
	{ "hold", BIT(KEY_LEN), bench_hold },
	{ "release", 0, bench_release_cmd },
};

static const char *bench_errname(int err)
{
	switch (err) {
	case -ENOMEM:
		return "ENOMEM";
	case -ENODEV:
		return "ENODEV";
	case -EREMOTEIO:
		return "EREMOTEIO";
	case -EINTR:
		return "EINTR";
	case -EINVAL:
		return "EINVAL";
	case -EAGAIN:
		return "EAGAIN";
	case -EIO:
		return "EIO";
	case -ENOSPC:
		return "ENOSPC";
	case -EBUSY:
		return "EBUSY";
	case -ENOENT:
		return "ENOENT";
	case -EOPNOTSUPP:
		return "EOPNOTSUPP";
	}
	return NULL;
}

/* Parse "<command> [key=value ...]" in place into @cmdp and @arg. */
static int bench_parse(char *line, const struct bench_cmd **cmdp, u32 *arg)
{
	const struct bench_cmd *cmd = NULL;
	char *s = strim(line), *tok, *key;
	unsigned int i;
	u32 val;

	tok = strsep(&s, " \t\n");
	for (i = 0; i < ARRAY_SIZE(bench_cmds); i++)
		if (!strcmp(tok, bench_cmds[i].name))
			cmd = &bench_cmds[i];
	if (!cmd)
		return -EINVAL;

	for (i = 0; i < KEY_NR; i++)
		arg[i] = cmd->def[i] ?: bench_keys[i].def;

	while ((tok = strsep(&s, " \t\n"))) {
		if (!*tok)
			continue;
		key = strsep(&tok, "=");
		if (!tok)
			return -EINVAL;
		for (i = 0; i < KEY_NR; i++)
			if ((cmd->keys & BIT(i)) && !strcmp(key, bench_keys[i].name))
				break;
		if (i == KEY_NR || kstrtou32(tok, 0, &val) ||
		    val < bench_keys[i].min || val > bench_keys[i].max)
			return -EINVAL;
		arg[i] = val;
	}

	*cmdp = cmd;
	return 0;
}

static void bench_set_result(struct bench_file *bf, const char *res)
{
	spin_lock(&result_lock);
	scnprintf(bf->result, sizeof(bf->result), "%s\n", res);
	strscpy(last_result, bf->result);
	spin_unlock(&result_lock);
}

static int bench_open(struct inode *inode, struct file *file)
{
	struct bench_file *bf;

	bf = kzalloc(sizeof(*bf), GFP_KERNEL);
	if (!bf)
		return -ENOMEM;
	spin_lock(&result_lock);
	strscpy(bf->result, last_result);
	spin_unlock(&result_lock);
	file->private_data = bf;
	return 0;
}

static int bench_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static ssize_t bench_read(struct file *file, char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	struct bench_file *bf = file->private_data;
	char res[BENCH_RESULT_MAX];

	spin_lock(&result_lock);
	strscpy(res, bf->result);
	spin_unlock(&result_lock);

	return simple_read_from_buffer(ubuf, count, ppos, res, strlen(res));
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	struct bench_file *bf = file->private_data;
	char line[BENCH_CMD_MAX], res[BENCH_RESULT_MAX] = "";
	const struct bench_cmd *cmd;
	u32 arg[KEY_NR];
	const char *name;
	int err;

	if (!count || count >= sizeof(line))
		return -EINVAL;
	if (copy_from_user(line, ubuf, count))
		return -EFAULT;
	line[count] = '\0';

	/* The result of this write is read from the start. */
	*ppos = 0;

	err = bench_parse(line, &cmd, arg);
	if (err) {
		bench_set_result(bf, "error=EINVAL");
		return err;
	}

	err = mutex_lock_killable(&bench_mutex);
	if (err)
		return err;
	err = cmd->run(arg, res, sizeof(res));
	mutex_unlock(&bench_mutex);

	if (err) {
		name = bench_errname(err);
		if (name)
			scnprintf(res, sizeof(res), "error=%s", name);
		else
			scnprintf(res, sizeof(res), "error=%d", -err);
	}
	bench_set_result(bf, res);
	return count;
}

static const struct file_operations bench_fops = {
	.owner		= THIS_MODULE,
	.open		= bench_open,
	.release	= bench_release,
	.read		= bench_read,
	.write		= bench_write,
	.llseek		= default_llseek,
};

static int __init bench_init(void)
{
	struct pci_dev *pdev = NULL;

	/* An early break keeps the reference pci_get_device() took. */
	for_each_pci_dev(pdev)
		if (pci_has_p2pmem(pdev))
			break;
	if (!pdev) {
		pr_info("no PCI function provides p2pmem\n");
		return -ENODEV;
	}
	provider = pdev;

	pdev = NULL;
	for_each_pci_dev(pdev)
		if (pdev != provider &&
		    pdev->class == PCI_CLASS_STORAGE_EXPRESS &&
		    pci_p2pdma_distance(provider, &pdev->dev, false) >= 0)
			break;
	peer = pdev ? pdev : pci_dev_get(provider);

	bench_dir = debugfs_create_dir("p2pdma_bench", NULL);
	if (IS_ERR(bench_dir)) {
		pci_dev_put(peer);
		pci_dev_put(provider);
		return PTR_ERR(bench_dir);
	}
	debugfs_create_file("run", 0600, bench_dir, NULL, &bench_fops);

	pr_info("provider %s, peer %s\n", pci_name(provider), pci_name(peer));
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove(bench_dir);
	if (held)
		bench_release_held();
	pci_dev_put(peer);
	pci_dev_put(provider);
}

module_init(bench_init);
module_exit(bench_exit);

MODULE_DESCRIPTION("Benchmarks of the PCI P2PDMA API");
MODULE_LICENSE("GPL");
