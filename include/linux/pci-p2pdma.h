/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PCI peer-to-peer DMA (P2PDMA)
 *
 * The interface between PCI functions that offer part of a memory BAR for
 * peer-to-peer transfers ("providers"), the drivers that use that memory
 * and the devices that DMA to or from it ("clients").
 *
 * The map types and pci_p2pdma_map_segment(), which only the DMA mapping
 * code needs, are declared in <linux/dma-map-ops.h>; is_pci_p2pdma_page()
 * lives in <linux/memremap.h>.
 */
#ifndef _LINUX_PCI_P2PDMA_H
#define _LINUX_PCI_P2PDMA_H

#include <linux/kstrtox.h>
#include <linux/pci.h>
#include <linux/sysfs.h>

struct scatterlist;

#ifdef CONFIG_PCI_P2PDMA
int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar, size_t size,
			    u64 offset);
int pci_p2pdma_distance_many(struct pci_dev *provider, struct device **clients,
			     int num_clients, bool verbose);
bool pci_has_p2pmem(struct pci_dev *pdev);
struct pci_dev *pci_p2pmem_find_many(struct device **clients, int num_clients);
void *pci_alloc_p2pmem(struct pci_dev *pdev, size_t size);
void pci_free_p2pmem(struct pci_dev *pdev, void *addr, size_t size);
pci_bus_addr_t pci_p2pmem_virt_to_bus(struct pci_dev *pdev, void *addr);
struct scatterlist *pci_p2pmem_alloc_sgl(struct pci_dev *pdev,
					 unsigned int *nents, u32 length);
void pci_p2pmem_free_sgl(struct pci_dev *pdev, struct scatterlist *sgl);
void pci_p2pmem_publish(struct pci_dev *pdev, bool publish);
int pci_p2pdma_enable_store(const char *page, struct pci_dev **p2p_dev,
			    bool *use_p2pdma);
ssize_t pci_p2pdma_enable_show(char *page, struct pci_dev *p2p_dev,
			       bool use_p2pdma);
#else /* CONFIG_PCI_P2PDMA */
static inline int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar,
					  size_t size, u64 offset)
{
	return -EOPNOTSUPP;
}

static inline int pci_p2pdma_distance_many(struct pci_dev *provider,
					   struct device **clients,
					   int num_clients, bool verbose)
{
	return -1;
}

static inline bool pci_has_p2pmem(struct pci_dev *pdev)
{
	return false;
}

static inline struct pci_dev *pci_p2pmem_find_many(struct device **clients,
						   int num_clients)
{
	return NULL;
}

static inline void *pci_alloc_p2pmem(struct pci_dev *pdev, size_t size)
{
	return NULL;
}

static inline void pci_free_p2pmem(struct pci_dev *pdev, void *addr,
				   size_t size)
{
}

static inline pci_bus_addr_t pci_p2pmem_virt_to_bus(struct pci_dev *pdev,
						    void *addr)
{
	return 0;
}

static inline struct scatterlist *pci_p2pmem_alloc_sgl(struct pci_dev *pdev,
						       unsigned int *nents,
						       u32 length)
{
	return NULL;
}

static inline void pci_p2pmem_free_sgl(struct pci_dev *pdev,
				       struct scatterlist *sgl)
{
}

static inline void pci_p2pmem_publish(struct pci_dev *pdev, bool publish)
{
}

/* Without P2PDMA support only "off" is an acceptable setting. */
static inline int pci_p2pdma_enable_store(const char *page,
					  struct pci_dev **p2p_dev,
					  bool *use_p2pdma)
{
	bool enable;

	*p2p_dev = NULL;
	*use_p2pdma = false;
	if (!kstrtobool(page, &enable) && !enable)
		return 0;
	return -ENODEV;
}

static inline ssize_t pci_p2pdma_enable_show(char *page,
					     struct pci_dev *p2p_dev,
					     bool use_p2pdma)
{
	return sysfs_emit(page, "0\n");
}
#endif /* CONFIG_PCI_P2PDMA */

/**
 * pci_p2pdma_distance - how far a client is from a provider's memory
 * @provider: PCI function that provides (or would provide) the memory
 * @client: device that would DMA to or from that memory
 * @verbose: log one line explaining a refusal
 *
 * Single-client form of pci_p2pdma_distance_many().
 *
 * Return: the number of hops between the two devices (0 for the same
 * function), or -1 if @client cannot do peer-to-peer DMA with @provider.
 */
static inline int pci_p2pdma_distance(struct pci_dev *provider,
				      struct device *client, bool verbose)
{
	return pci_p2pdma_distance_many(provider, &client, 1, verbose);
}

/**
 * pci_p2pmem_find - find a published provider of memory usable by a client
 * @client: device that will DMA to or from the memory
 *
 * Single-client form of pci_p2pmem_find_many().
 *
 * Return: a referenced provider, to be released with pci_dev_put(), or
 * NULL if none is reachable from @client.
 */
static inline struct pci_dev *pci_p2pmem_find(struct device *client)
{
	return pci_p2pmem_find_many(&client, 1);
}

#endif /* _LINUX_PCI_P2PDMA_H */
