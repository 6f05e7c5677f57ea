// SPDX-License-Identifier: GPL-2.0
/*
 * iopmem: memory behind a PCI BAR as a block device.
 *
 * The owner of the memory (p2pmem-pci for any BAR an administrator
 * chooses, nvme-pci for a Persistent Memory Region) maps it and hands the
 * mapping to iopmem_create(), which makes a disk "iopmemN" of it.  The
 * CPU copies every bio with the I/O accessors; a flush or a FUA write
 * drains the write-combining buffers and then calls the owner's barrier,
 * which knows what makes a write reach the memory for good.
 *
 * See Documentation/driver-api/pci/iopmem.rst.
 */

#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/highmem.h>
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/iopmem.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

/* The granule of a disk's size and its physical block size */
#define IOPMEM_ALIGN	SZ_4K

/**
 * struct iopmem - one block device on BAR memory
 * @disk: the disk
 * @addr: the owner's mapping of the memory
 * @size: its length in bytes
 * @persistent: see &iopmem_info
 * @barrier_fn: see &iopmem_info
 * @data: see &iopmem_info
 * @id: N of the name iopmemN
 * @frozen: between iopmem_freeze() and iopmem_unfreeze()
 * @flushes: bios with REQ_PREFLUSH served, each with one barrier
 * @fua_writes: writes with REQ_FUA served, each with one barrier
 */
struct iopmem {
	struct gendisk *disk;
	void __iomem *addr;
	u64 size;
	bool persistent;
	void (*barrier_fn)(void *data);
	void *data;
	int id;
	bool frozen;
	atomic_long_t flushes;
	atomic_long_t fua_writes;
};

static DEFINE_IDA(iopmem_ida);

static void iopmem_barrier(struct iopmem *im)
{
	/*
	 * Write-combined stores are weakly ordered, and a load may pass
	 * them: the owner's read must come after all of them.
	 */
	mb();
	if (im->barrier_fn)
		im->barrier_fn(im->data);
}

static void iopmem_copy(struct iopmem *im, struct bio_vec *bv, u64 pos,
			bool write)
{
	void *buf = bvec_kmap_local(bv);

	if (write) {
		memcpy_toio(im->addr + pos, buf, bv->bv_len);
	} else {
		memcpy_fromio(buf, im->addr + pos, bv->bv_len);
		flush_dcache_page(bv->bv_page);
	}
	kunmap_local(buf);
}

static void iopmem_submit_bio(struct bio *bio)
{
	struct iopmem *im = bio->bi_bdev->bd_disk->private_data;
	u64 pos = (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT;
	bool write = op_is_write(bio_op(bio));
	struct bvec_iter iter;
	struct bio_vec bv;

	if (bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE) {
		bio->bi_status = BLK_STS_NOTSUPP;
		goto out;
	}
	/* The block layer checked the bio against the capacity: be sure */
	if (pos > im->size || bio->bi_iter.bi_size > im->size - pos) {
		bio->bi_status = BLK_STS_IOERR;
		goto out;
	}

	/* The block layer only warns of a write to a read-only disk */
	if (write && bdev_read_only(bio->bi_bdev)) {
		bio->bi_status = BLK_STS_IOERR;
		goto out;
	}

	/* What was written before this bio must be durable before it is */
	if (bio->bi_opf & REQ_PREFLUSH) {
		atomic_long_inc(&im->flushes);
		iopmem_barrier(im);
	}
	bio_for_each_segment(bv, bio, iter) {
		iopmem_copy(im, &bv, pos, write);
		pos += bv.bv_len;
	}
	if (write) {
		/*
		 * A completed write is in the memory, not in this CPU's
		 * buffers: a flush that runs on another CPU covers it.
		 */
		wmb();
	}
	if (write && (bio->bi_opf & REQ_FUA)) {
		atomic_long_inc(&im->fua_writes);
		iopmem_barrier(im);
	}
out:
	bio_endio(bio);
}

static const struct block_device_operations iopmem_fops = {
	.owner		= THIS_MODULE,
	.submit_bio	= iopmem_submit_bio,
};

static struct iopmem *iopmem_of(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t persistent_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", iopmem_of(dev)->persistent);
}
static DEVICE_ATTR_RO(persistent);

static ssize_t flushes_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&iopmem_of(dev)->flushes));
}
static DEVICE_ATTR_RO(flushes);

static ssize_t fua_writes_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&iopmem_of(dev)->fua_writes));
}
static DEVICE_ATTR_RO(fua_writes);

static struct attribute *iopmem_attrs[] = {
	&dev_attr_persistent.attr,
	&dev_attr_flushes.attr,
	&dev_attr_fua_writes.attr,
	NULL
};

static const struct attribute_group iopmem_group = {
	.name	= "iopmem",
	.attrs	= iopmem_attrs,
};

static const struct attribute_group *iopmem_groups[] = {
	&iopmem_group,
	NULL
};

/**
 * iopmem_create() - make a block device of BAR memory
 * @parent: the device that owns the memory (the disk's parent in sysfs)
 * @info: the memory, and how to make writes to it durable
 *
 * The disk has 512-byte logical blocks, 4 KiB physical blocks, is not
 * rotational and reports a write-back cache with FUA: write-combined
 * stores sit in CPU buffers until a flush.  Its I/O never sleeps.  It is
 * read-only if @info says so.
 *
 * Return: the new device, or an ERR_PTR(): -EINVAL for a size of 0 or
 * one that is not a multiple of 4 KiB, -ENOMEM, or what adding the disk
 * returned.
 */
struct iopmem *iopmem_create(struct device *parent,
			     const struct iopmem_info *info)
{
	struct queue_limits lim = {
		.logical_block_size	= SECTOR_SIZE,
		.physical_block_size	= IOPMEM_ALIGN,
		.io_min			= IOPMEM_ALIGN,
		.features		= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA |
					  BLK_FEAT_SYNCHRONOUS | BLK_FEAT_NOWAIT,
	};
	struct gendisk *disk;
	struct iopmem *im;
	int ret;

	if (!info->addr || !info->size || !IS_ALIGNED(info->size, IOPMEM_ALIGN))
		return ERR_PTR(-EINVAL);

	im = kzalloc(sizeof(*im), GFP_KERNEL);
	if (!im)
		return ERR_PTR(-ENOMEM);
	im->addr = info->addr;
	im->size = info->size;
	im->persistent = info->persistent;
	im->barrier_fn = info->barrier_fn;
	im->data = info->data;
	atomic_long_set(&im->flushes, 0);
	atomic_long_set(&im->fua_writes, 0);
	ret = ida_alloc(&iopmem_ida, GFP_KERNEL);
	if (ret < 0)
		goto out_free;
	im->id = ret;

	disk = blk_alloc_disk(&lim, dev_to_node(parent));
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_ida;
	}
	disk->fops = &iopmem_fops;
	disk->private_data = im;
	snprintf(disk->disk_name, DISK_NAME_LEN, "iopmem%d", im->id);
	set_capacity(disk, im->size >> SECTOR_SHIFT);
	set_disk_ro(disk, info->read_only);
	im->disk = disk;

	ret = device_add_disk(parent, disk, iopmem_groups);
	if (ret)
		goto out_put;
	dev_info(parent, "%s: %llu KiB of %s memory\n", disk->disk_name,
		 im->size >> 10, im->persistent ? "persistent" : "volatile");
	return im;

out_put:
	put_disk(disk);
out_ida:
	ida_free(&iopmem_ida, im->id);
out_free:
	kfree(im);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(iopmem_create);

/**
 * iopmem_destroy() - remove a block device made by iopmem_create()
 * @im: the device; NULL or an ERR_PTR() is ignored
 *
 * Waits for the I/O in progress, fails all later I/O with an error and
 * removes the disk, which lives on (without any access to the memory)
 * until its last opener closes it.  The owner may unmap the memory once
 * this returns.  A frozen disk is first marked dead, as by
 * iopmem_mark_dead(): what waits fails, and nothing is written back.
 *
 * Return: nothing.
 */
void iopmem_destroy(struct iopmem *im)
{
	if (IS_ERR_OR_NULL(im))
		return;
	/* Writeback on a frozen queue would wait for ever: fail it */
	if (im->frozen)
		blk_mark_disk_dead(im->disk);
	del_gendisk(im->disk);
	put_disk(im->disk);
	ida_free(&iopmem_ida, im->id);
	kfree(im);
}
EXPORT_SYMBOL_GPL(iopmem_destroy);

/**
 * iopmem_freeze() - hold back I/O while the memory is unusable
 * @im: the device
 *
 * Waits for the I/O in progress; later I/O waits (or, with REQ_NOWAIT,
 * fails with -EAGAIN) until iopmem_unfreeze(), which another task may
 * call (a reset is often begun in one and finished in another).  For an
 * owner that resets the device behind the memory.  Calls do not nest.
 * May sleep.
 *
 * Return: nothing.
 */
void iopmem_freeze(struct iopmem *im)
{
	blk_freeze_queue_start_non_owner(im->disk->queue);
	blk_mq_freeze_queue_wait(im->disk->queue);
	im->frozen = true;
}
EXPORT_SYMBOL_GPL(iopmem_freeze);

/**
 * iopmem_unfreeze() - let I/O through again after iopmem_freeze()
 * @im: the device
 *
 * Return: nothing.
 */
void iopmem_unfreeze(struct iopmem *im)
{
	im->frozen = false;
	blk_mq_unfreeze_queue_non_owner(im->disk->queue);
}
EXPORT_SYMBOL_GPL(iopmem_unfreeze);

/**
 * iopmem_mark_dead() - fail all I/O for good, the memory being gone
 * @im: the device
 *
 * For an owner whose device is gone or broken but not yet removed: the
 * I/O waiting on a frozen disk and all later I/O fail at once, and the
 * disk stays until iopmem_destroy().
 *
 * Return: nothing.
 */
void iopmem_mark_dead(struct iopmem *im)
{
	blk_mark_disk_dead(im->disk);
}
EXPORT_SYMBOL_GPL(iopmem_mark_dead);

/**
 * iopmem_name() - the name of a device made by iopmem_create()
 * @im: the device
 *
 * Return: "iopmemN", valid until iopmem_destroy().
 */
const char *iopmem_name(struct iopmem *im)
{
	return im->disk->disk_name;
}
EXPORT_SYMBOL_GPL(iopmem_name);

MODULE_DESCRIPTION("Block devices on PCI BAR memory");
MODULE_LICENSE("GPL");
