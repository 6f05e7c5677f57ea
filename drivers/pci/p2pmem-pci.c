// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-pci: offer the memory BAR of any PCI function as peer-to-peer
 * memory.
 *
 * Some devices have memory that other devices may DMA to and that no
 * in-tree driver offers to the P2PDMA core: the BAR of an FPGA or an
 * accelerator, RAM shared through QEMU's ivshmem.  This driver has no ID
 * table.  An administrator binds it to such a function the way vfio-pci
 * is bound (driver_override or new_id), then says which BAR to offer and
 * how much of it by writing to the function's "p2pmem_offer" attribute.
 * Each range offered is registered with pci_p2pdma_add_resource() and
 * published, so that pci_p2pmem_find_many() and user space (p2pmem/ in
 * sysfs) see it.  A range written to "iopmem_offer" instead becomes a
 * block device (iopmem).  No byte is in both.  Unbinding the driver
 * withdraws everything.
 *
 * See Documentation/driver-api/pci/p2pmem-pci.rst.
 */

#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/io.h>
#include <linux/iopmem.h>
#include <linux/kstrtox.h>
#include <linux/overflow.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/security.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#define P2PMEM_PCI_NAME		"p2pmem-pci"

/**
 * struct p2pmem_pci_range - one range offered by the administrator
 * @node: entry in &p2pmem_pci.ranges
 * @bar: the BAR it lies in
 * @size: its length in bytes
 * @offset: where it starts within @bar
 * @disk: the block device it backs, or NULL for peer-to-peer memory
 * @addr: the mapping of a block device's range
 */
struct p2pmem_pci_range {
	struct list_head node;
	int bar;
	u64 size;
	u64 offset;
	struct iopmem *disk;
	void __iomem *addr;
};

/**
 * struct p2pmem_pci - the driver's state for one function
 * @pdev: the function
 * @lock: guards @ranges (offers themselves run under the device lock,
 *	which also serialises them as the P2PDMA core requires)
 * @ranges: what has been offered, in the order it was; each entry lives
 *	as long as the binding (devres), like the memory it describes
 */
struct p2pmem_pci {
	struct pci_dev *pdev;
	struct mutex lock;	/* see above */
	struct list_head ranges;
};

/* True if @pdev has at least one assigned memory BAR. */
static bool p2pmem_pci_has_mem_bar(struct pci_dev *pdev)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		unsigned long flags = pci_resource_flags(pdev, bar);

		if ((flags & IORESOURCE_MEM) && !(flags & IORESOURCE_UNSET) &&
		    pci_resource_len(pdev, bar))
			return true;
	}
	return false;
}

/*
 * One number of an offer: decimal, or hex after "0x", then optionally K,
 * M or G (either case).  Unlike memparse(), a number too large, a leading
 * 0 (octal there) or another suffix is an error, not a different number.
 */
static int p2pmem_pci_parse_size(char *tok, u64 *val)
{
	static const char units[] = "KMG";
	size_t len = strlen(tok);
	unsigned int shift = 0;
	const char *unit;
	bool hex;

	if (!len || !isdigit(tok[0]))
		return -EINVAL;
	unit = strchr(units, toupper(tok[len - 1]));
	if (unit && *unit) {
		shift = 10 * (unit - units + 1);
		tok[--len] = '\0';
	}
	hex = !strncasecmp(tok, "0x", 2);
	if (!hex && tok[0] == '0' && len > 1)
		return -EINVAL;
	if (kstrtou64(tok, hex ? 16 : 10, val) ||
	    check_shl_overflow(*val, shift, val))
		return -EINVAL;
	return 0;
}

/*
 * An offer is "BAR [SIZE [OFFSET]]": SIZE 0 or absent means the rest of
 * the BAR from OFFSET.
 */
static int p2pmem_pci_parse(char *buf, int *bar, u64 *size, u64 *offset)
{
	char *tok[3] = {};
	int n = 0, ret;
	char *s;

	buf = strim(buf);
	while ((s = strsep(&buf, " \t"))) {
		if (!*s)
			continue;
		if (n == ARRAY_SIZE(tok))
			return -EINVAL;
		tok[n++] = s;
	}
	if (!n)
		return -EINVAL;
	/* kstrtoint() says -ERANGE for a huge number: a parse error here */
	if (kstrtoint(tok[0], 10, bar))
		return -EINVAL;
	*size = 0;
	*offset = 0;
	if (n > 1) {
		ret = p2pmem_pci_parse_size(tok[1], size);
		if (ret)
			return ret;
	}
	if (n > 2)
		return p2pmem_pci_parse_size(tok[2], offset);
	return 0;
}

static bool p2pmem_pci_bar_exists(struct pci_dev *pdev, int bar)
{
	if (bar >= 0 && bar < PCI_STD_NUM_BARS)
		return true;
	pci_info(pdev, "BAR %d: there are BARs 0 to %d only\n", bar,
		 PCI_STD_NUM_BARS - 1);
	return false;
}

/*
 * True, with a line in the log, if [offset, offset + size) of @bar
 * overlaps a range offered before: any range, or only the block
 * devices' if @disks_only.  The caller checked that the sum is no wrap.
 */
static bool p2pmem_pci_overlaps(struct p2pmem_pci *p, int bar, u64 size,
				u64 offset, bool disks_only)
{
	struct p2pmem_pci_range *r;

	list_for_each_entry(r, &p->ranges, node) {
		if (r->bar != bar || (disks_only && !r->disk))
			continue;
		if (offset < r->offset + r->size && r->offset < offset + size) {
			pci_info(p->pdev,
				 "BAR %d: %#llx bytes at %#llx overlap the %s at %#llx\n",
				 bar, size, offset,
				 r->disk ? iopmem_name(r->disk) : "p2pmem",
				 r->offset);
			return true;
		}
	}
	return false;
}

/*
 * Register a range and publish the function's memory.  The core checks
 * the BAR and the range, logs a refusal with its reason and undoes
 * everything it did for a failed call.
 */
static int p2pmem_pci_offer(struct p2pmem_pci *p, int bar, u64 size,
			    u64 offset)
{
	struct pci_dev *pdev = p->pdev;
	struct p2pmem_pci_range *r;
	u64 len;
	int ret;

	lockdep_assert_held(&p->lock);
	if (!p2pmem_pci_bar_exists(pdev, bar))
		return -EINVAL;
	len = pci_resource_len(pdev, bar);
	if (!size && offset < len)
		size = len - offset;
	/*
	 * The core refuses a range out of the BAR, and one that overlaps
	 * its own ranges; not one that overlaps a block device's.
	 */
	if (size && size <= len && offset <= len - size &&
	    p2pmem_pci_overlaps(p, bar, size, offset, true))
		return -EBUSY;

	r = devm_kzalloc(&pdev->dev, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	ret = pci_p2pdma_add_resource(pdev, bar, size, offset);
	if (ret) {
		devm_kfree(&pdev->dev, r);
		return ret;
	}
	r->bar = bar;
	r->size = size;
	r->offset = offset;
	list_add_tail(&r->node, &p->ranges);
	pci_p2pmem_publish(pdev, true);
	return 0;
}

/*
 * A flush or a FUA write of the block device: a read from the BAR
 * completes only once the writes posted to it before have reached it.
 */
static void p2pmem_pci_barrier(void *data)
{
	struct p2pmem_pci_range *r = data;

	readl(r->addr);
}

static void p2pmem_pci_drop_disk(void *data)
{
	struct p2pmem_pci_range *r = data;

	iopmem_destroy(r->disk);
	iounmap(r->addr);
}

/*
 * Make a block device of a range.  Unlike a peer-to-peer range, it need
 * not be mapped by memory hotplug: 4 KiB alignment is all it takes.
 */
static int p2pmem_pci_make_disk(struct p2pmem_pci *p, int bar, u64 size,
				u64 offset)
{
	struct pci_dev *pdev = p->pdev;
	struct iopmem_info info = {};
	struct p2pmem_pci_range *r;
	unsigned long flags;
	u64 len;
	int ret;

	lockdep_assert_held(&p->lock);
	if (!IS_ENABLED(CONFIG_BLK_DEV_IOPMEM)) {
		pci_info(pdev, "no block devices: iopmem is not built\n");
		return -EOPNOTSUPP;
	}
	if (!p2pmem_pci_bar_exists(pdev, bar))
		return -EINVAL;
	flags = pci_resource_flags(pdev, bar);
	len = pci_resource_len(pdev, bar);
	if (!(flags & IORESOURCE_MEM) || (flags & IORESOURCE_UNSET) || !len) {
		pci_info(pdev, "BAR %d: not an assigned memory BAR\n", bar);
		return -EINVAL;
	}
	if (!size && offset < len)
		size = len - offset;
	if (!size || size > len || offset > len - size) {
		pci_info(pdev,
			 "BAR %d: %#llx bytes at %#llx: no room in its %#llx bytes\n",
			 bar, size, offset, len);
		return -EINVAL;
	}
	if (!IS_ALIGNED(size | offset, SZ_4K)) {
		pci_info(pdev, "BAR %d: %#llx bytes at %#llx: not 4 KiB-aligned\n",
			 bar, size, offset);
		return -EINVAL;
	}
	if (p2pmem_pci_overlaps(p, bar, size, offset, false))
		return -EBUSY;

	r = devm_kzalloc(&pdev->dev, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->bar = bar;
	r->size = size;
	r->offset = offset;
	/* Write-combining lets the CPU read ahead: prefetchable BARs only */
	if (flags & IORESOURCE_PREFETCH)
		r->addr = ioremap_wc(pci_resource_start(pdev, bar) + offset, size);
	else
		r->addr = ioremap(pci_resource_start(pdev, bar) + offset, size);
	if (!r->addr) {
		ret = -ENOMEM;
		goto out_free;
	}
	info.addr = r->addr;
	info.size = size;
	info.barrier_fn = p2pmem_pci_barrier;
	info.data = r;
	r->disk = iopmem_create(&pdev->dev, &info);
	if (IS_ERR(r->disk)) {
		ret = PTR_ERR(r->disk);
		iounmap(r->addr);
		goto out_free;
	}
	ret = devm_add_action_or_reset(&pdev->dev, p2pmem_pci_drop_disk, r);
	if (ret)
		goto out_free;
	list_add_tail(&r->node, &p->ranges);
	return 0;

out_free:
	devm_kfree(&pdev->dev, r);
	return ret;
}

/*
 * Parse an offer, then carry it out with @fn under the device lock, which
 * an unbind holds from its start: a range offered once the core has begun
 * to retire the function's memory would be published while it goes.  The
 * unbind waits for this store to return before it removes the attribute,
 * hence a trylock and a restart.
 */
static ssize_t p2pmem_pci_store(struct device *dev, const char *buf,
				size_t count,
				int (*fn)(struct p2pmem_pci *p, int bar,
					  u64 size, u64 offset))
{
	struct p2pmem_pci *p = dev_get_drvdata(dev);
	u64 size, offset;
	char *copy;
	int bar, ret;

	/* User space gets write access to the BAR: p2pmem/allocate, a disk */
	ret = security_locked_down(LOCKDOWN_PCI_ACCESS);
	if (ret)
		return ret;

	copy = kstrndup(buf, count, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	ret = p2pmem_pci_parse(copy, &bar, &size, &offset);
	kfree(copy);
	if (ret)
		return ret;

	if (!device_trylock(dev))
		return restart_syscall();
	mutex_lock(&p->lock);
	ret = fn(p, bar, size, offset);
	mutex_unlock(&p->lock);
	device_unlock(dev);
	return ret ?: count;
}

/* The ranges of one kind, a line each: "BAR SIZE OFFSET[ DISK]" */
static ssize_t p2pmem_pci_show(struct device *dev, char *buf, bool disks)
{
	struct p2pmem_pci *p = dev_get_drvdata(dev);
	struct p2pmem_pci_range *r;
	int len = 0;

	mutex_lock(&p->lock);
	list_for_each_entry(r, &p->ranges, node) {
		if (!r->disk != !disks)
			continue;
		len += sysfs_emit_at(buf, len, "%d %llu %llu", r->bar, r->size,
				     r->offset);
		if (r->disk)
			len += sysfs_emit_at(buf, len, " %s",
					     iopmem_name(r->disk));
		len += sysfs_emit_at(buf, len, "\n");
	}
	mutex_unlock(&p->lock);
	return len;
}

static ssize_t p2pmem_offer_store(struct device *dev,
				  struct device_attribute *attr,
				  const char *buf, size_t count)
{
	return p2pmem_pci_store(dev, buf, count, p2pmem_pci_offer);
}

static ssize_t p2pmem_offer_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return p2pmem_pci_show(dev, buf, false);
}
static DEVICE_ATTR_ADMIN_RW(p2pmem_offer);

static ssize_t iopmem_offer_store(struct device *dev,
				  struct device_attribute *attr,
				  const char *buf, size_t count)
{
	return p2pmem_pci_store(dev, buf, count, p2pmem_pci_make_disk);
}

static ssize_t iopmem_offer_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return p2pmem_pci_show(dev, buf, true);
}
static DEVICE_ATTR_ADMIN_RW(iopmem_offer);

static struct attribute *p2pmem_pci_attrs[] = {
	&dev_attr_p2pmem_offer.attr,
	&dev_attr_iopmem_offer.attr,
	NULL
};
ATTRIBUTE_GROUPS(p2pmem_pci);

static void p2pmem_pci_disable(void *data)
{
	pci_disable_device(data);
}

static int p2pmem_pci_probe(struct pci_dev *pdev,
			    const struct pci_device_id *id)
{
	struct p2pmem_pci *p;
	int ret;

	/* -ENODEV: the driver core logs it at debug level only */
	if (!p2pmem_pci_has_mem_bar(pdev)) {
		pci_info(pdev, "no memory BAR: nothing to offer\n");
		return -ENODEV;
	}

	p = devm_kzalloc(&pdev->dev, sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->pdev = pdev;
	INIT_LIST_HEAD(&p->ranges);
	ret = devm_mutex_init(&pdev->dev, &p->lock);
	if (ret)
		return ret;

	/* The CPU reaches the memory through the BAR: decode it */
	ret = pci_enable_device_mem(pdev);
	if (ret)
		return ret;
	ret = devm_add_action_or_reset(&pdev->dev, p2pmem_pci_disable, pdev);
	if (ret)
		return ret;
	/* Claimed: /proc/iomem names the owner, no other driver takes them */
	ret = pcim_request_all_regions(pdev, P2PMEM_PCI_NAME);
	if (ret)
		return ret;

	pci_set_drvdata(pdev, p);
	return 0;
}

static struct pci_driver p2pmem_pci_driver = {
	.name		= P2PMEM_PCI_NAME,
	.probe		= p2pmem_pci_probe,
	.dev_groups	= p2pmem_pci_groups,
};
module_pci_driver(p2pmem_pci_driver);

MODULE_DESCRIPTION("Offer any PCI memory BAR as peer-to-peer memory");
MODULE_LICENSE("GPL");
