// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the scatterlist helpers: the I/O memory mark and how
 * it survives list building, sg_kmap(), the mapping iterator, the copy
 * helpers and the DMA page iterator.
 *
 * There is no device memory here.  The "I/O memory" entries are ordinary
 * pages marked with sg_set_iomem_page(), which is enough to send the
 * helpers down their I/O memory paths; the I/O accessors work on RAM, so
 * the results can be checked byte for byte.  Nothing in this file may
 * trigger a WARN: the one refusal that logs (sg_miter_next() meeting an
 * I/O memory entry without SG_MITER_IOMEM) does so with a plain message.
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/string.h>

/* Whether sg_set_iomem_page() can mark an entry at all (not on 32-bit). */
static const bool sgt_iomem = IS_ENABLED(CONFIG_64BIT);

/* Every test works on SGT_PAGES physically contiguous pages of RAM. */
#define SGT_ORDER	2
#define SGT_PAGES	BIT(SGT_ORDER)
#define SGT_BYTES	(SGT_PAGES * PAGE_SIZE)

static void sgt_free_store(void *page)
{
	__free_pages(page, SGT_ORDER);
}

static struct page *sgt_store(struct kunit *test)
{
	struct page *page = alloc_pages(GFP_KERNEL | __GFP_ZERO, SGT_ORDER);

	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, sgt_free_store,
							page), 0);
	return page;
}

/* A byte pattern that differs between neighbours and between seeds. */
static u8 sgt_byte(size_t i, unsigned int seed)
{
	return (i * 13 + (i >> 8) * 7 + seed * 31 + 1) & 0xff;
}

static void sgt_fill(u8 *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = sgt_byte(i, seed);
}

/* ---------------------------------------------------------------------
 * The mark itself
 */

static void sgt_iomem_mark(struct kunit *test)
{
	struct page *page = sgt_store(test);
	struct scatterlist sg[3];

	sg_init_table(sg, ARRAY_SIZE(sg));
	sg_set_page(&sg[0], page, 100, 10);
	sg_set_iomem_page(&sg[1], page + 1, 200, 20);
	sg_set_iomem_page(&sg[2], page + 2, PAGE_SIZE, 0);

	KUNIT_EXPECT_FALSE(test, sg_is_iomem(&sg[0]));
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&sg[1]), sgt_iomem);
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&sg[2]), sgt_iomem);

	/* The mark never shows in the page or in the other fields. */
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[1]), page + 1);
	KUNIT_EXPECT_EQ(test, sg[1].offset, 20U);
	KUNIT_EXPECT_EQ(test, sg[1].length, 200U);
	KUNIT_EXPECT_EQ(test, sg_phys(&sg[1]), page_to_phys(page + 1) + 20);
	KUNIT_EXPECT_PTR_EQ(test, sg_virt(&sg[1]), page_address(page + 1) + 20);
	KUNIT_EXPECT_FALSE(test, sg_is_chain(&sg[1]));
	KUNIT_EXPECT_FALSE(test, sg_is_last(&sg[1]));
	KUNIT_EXPECT_PTR_EQ(test, sg_next(&sg[1]), &sg[2]);

	/* The end marker of sg_init_table() survives sg_set_iomem_page(). */
	KUNIT_EXPECT_TRUE(test, sg_is_last(&sg[2]));
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[2]), page + 2);
	KUNIT_EXPECT_NULL(test, sg_next(&sg[2]));
	KUNIT_EXPECT_EQ(test, sg_nents(sg), 3);

	/* An ordinary page clears the mark and keeps the end marker. */
	sg_set_page(&sg[2], page + 3, 5, 6);
	KUNIT_EXPECT_FALSE(test, sg_is_iomem(&sg[2]));
	KUNIT_EXPECT_TRUE(test, sg_is_last(&sg[2]));
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[2]), page + 3);

	sg_assign_page(&sg[1], page);
	KUNIT_EXPECT_FALSE(test, sg_is_iomem(&sg[1]));
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[1]), page);
	KUNIT_EXPECT_EQ(test, sg[1].length, 200U);

	/* And the mark can be set again on an entry that had a page. */
	sg_set_iomem_page(&sg[0], page + 1, 100, 10);
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&sg[0]), sgt_iomem);
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[0]), page + 1);
	KUNIT_EXPECT_FALSE(test, sg_is_last(&sg[0]));
}

static void sgt_iomem_mark_end(struct kunit *test)
{
	struct page *page = sgt_store(test);
	struct scatterlist sg[2];

	sg_init_table(sg, ARRAY_SIZE(sg));
	sg_set_iomem_page(&sg[0], page + 1, 8, 16);
	sg_set_page(&sg[1], page, 8, 0);

	sg_mark_end(&sg[0]);
	KUNIT_EXPECT_TRUE(test, sg_is_last(&sg[0]));
	KUNIT_EXPECT_FALSE(test, sg_is_chain(&sg[0]));
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&sg[0]), sgt_iomem);
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[0]), page + 1);
	KUNIT_EXPECT_NULL(test, sg_next(&sg[0]));
	KUNIT_EXPECT_EQ(test, sg_nents(sg), 1);

	sg_unmark_end(&sg[0]);
	KUNIT_EXPECT_FALSE(test, sg_is_last(&sg[0]));
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&sg[0]), sgt_iomem);
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg[0]), page + 1);
	KUNIT_EXPECT_PTR_EQ(test, sg_next(&sg[0]), &sg[1]);
	KUNIT_EXPECT_EQ(test, sg_nents(sg), 2);
	KUNIT_EXPECT_EQ(test, sg[0].offset, 16U);
	KUNIT_EXPECT_EQ(test, sg[0].length, 8U);
}

struct sgt_want {
	unsigned int page, offset, length;
	bool iomem;
};

/* Walks @sgl with sg_next() and checks it against @want. */
static void sgt_check_walk(struct kunit *test, struct scatterlist *sgl,
			   struct page *page, const struct sgt_want *want,
			   unsigned int n)
{
	struct scatterlist *sg;
	unsigned int i = 0;

	for (sg = sgl; sg; sg = sg_next(sg), i++) {
		KUNIT_ASSERT_LT(test, i, n);
		KUNIT_EXPECT_PTR_EQ(test, sg_page(sg), page + want[i].page);
		KUNIT_EXPECT_EQ(test, sg->offset, want[i].offset);
		KUNIT_EXPECT_EQ(test, sg->length, want[i].length);
		KUNIT_EXPECT_EQ(test, sg_is_iomem(sg), want[i].iomem && sgt_iomem);
		KUNIT_EXPECT_EQ(test, sg_is_last(sg), i + 1 == n);
	}
	KUNIT_EXPECT_EQ(test, i, n);
}

static void sgt_iomem_chain(struct kunit *test)
{
	static const struct sgt_want want[] = {
		{ 0, 0, 16, true }, { 1, 8, 32, false },
		{ 2, 16, 128, false }, { 3, 32, 256, true },
	};
	struct page *page = sgt_store(test);
	struct scatterlist a[3], b[2];
	struct sg_page_iter piter;
	unsigned int i;

	sg_init_table(a, ARRAY_SIZE(a));
	sg_init_table(b, ARRAY_SIZE(b));
	sg_set_iomem_page(&a[0], page, 16, 0);
	sg_set_page(&a[1], page + 1, 32, 8);
	/* The chain entry had a marked page and the end marker before. */
	sg_set_iomem_page(&a[2], page + 2, 64, 0);
	sg_set_page(&b[0], page + 2, 128, 16);
	sg_set_iomem_page(&b[1], page + 3, 256, 32);
	sg_chain(a, ARRAY_SIZE(a), b);

	/* sg_is_iomem() and sg_page() must not be used on chain entries. */
	KUNIT_EXPECT_TRUE(test, sg_is_chain(&a[2]));
	KUNIT_EXPECT_FALSE(test, sg_is_last(&a[2]));
	KUNIT_EXPECT_EQ(test, a[2].page_link & (SG_END | SG_IOMEM), 0UL);
	KUNIT_EXPECT_PTR_EQ(test, sg_chain_ptr(&a[2]), &b[0]);

	sgt_check_walk(test, a, page, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_EQ(test, sg_nents(a), 4);
	KUNIT_EXPECT_EQ(test, sg_nents_for_len(a, 16 + 32 + 128 + 1), 4);
	KUNIT_EXPECT_PTR_EQ(test, sg_last(a, 4), &b[1]);

	/* The page iterator sees the plain pages, chain or mark. */
	i = 0;
	for_each_sg_page(a, &piter, 4, 0) {
		KUNIT_ASSERT_LT(test, i, 4U);
		KUNIT_EXPECT_PTR_EQ(test, sg_page_iter_page(&piter), page + i);
		i++;
	}
	KUNIT_EXPECT_EQ(test, i, 4U);

	/* Ending the list early and undoing it keep the marks. */
	sg_mark_end(&a[0]);
	KUNIT_EXPECT_EQ(test, sg_nents(a), 1);
	KUNIT_EXPECT_EQ(test, sg_is_iomem(&a[0]), sgt_iomem);
	sg_unmark_end(&a[0]);
	sgt_check_walk(test, a, page, want, ARRAY_SIZE(want));
}

KUNIT_DEFINE_ACTION_WRAPPER(sgt_free_table, sg_free_table, struct sg_table *);

static void sgt_alloc_table_chained(struct kunit *test)
{
	const unsigned int nents = 2 * SG_MAX_SINGLE_ALLOC + 3;
	struct page *page = sgt_store(test);
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned int i, n;

	if (IS_ENABLED(CONFIG_ARCH_NO_SG_CHAIN))
		kunit_skip(test, "no scatterlist chaining on this architecture");

	sgt = kunit_kzalloc(test, sizeof(*sgt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sgt);
	KUNIT_ASSERT_EQ(test, sg_alloc_table(sgt, nents, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, sgt_free_table,
							sgt), 0);
	KUNIT_EXPECT_EQ(test, sgt->orig_nents, nents);
	KUNIT_EXPECT_EQ(test, sgt->nents, nents);

	/* The table is made of chained chunks of SG_MAX_SINGLE_ALLOC. */
	KUNIT_EXPECT_TRUE(test, sg_is_chain(&sgt->sgl[SG_MAX_SINGLE_ALLOC - 1]));

	for_each_sgtable_sg(sgt, sg, i) {
		KUNIT_EXPECT_FALSE(test, sg_is_iomem(sg));
		if (i % 3 == 1)
			sg_set_iomem_page(sg, page + i % SGT_PAGES,
					  i % 512 + 1, i % 100);
		else
			sg_set_page(sg, page + i % SGT_PAGES,
				    i % 512 + 1, i % 100);
	}

	/* The chain entries kept their links and took no mark. */
	sg = sgt->sgl;
	KUNIT_EXPECT_TRUE(test, sg_is_chain(&sg[SG_MAX_SINGLE_ALLOC - 1]));
	KUNIT_EXPECT_EQ(test, sg[SG_MAX_SINGLE_ALLOC - 1].page_link & SG_IOMEM,
			0UL);

	n = 0;
	for (sg = sgt->sgl; sg; sg = sg_next(sg), n++) {
		KUNIT_ASSERT_LT(test, n, nents);
		KUNIT_EXPECT_PTR_EQ(test, sg_page(sg), page + n % SGT_PAGES);
		KUNIT_EXPECT_EQ(test, sg->length, n % 512 + 1);
		KUNIT_EXPECT_EQ(test, sg->offset, n % 100);
		KUNIT_EXPECT_EQ(test, sg_is_iomem(sg), n % 3 == 1 && sgt_iomem);
		KUNIT_EXPECT_EQ(test, sg_is_last(sg), n + 1 == nents);
	}
	KUNIT_EXPECT_EQ(test, n, nents);
	KUNIT_EXPECT_EQ(test, sg_nents(sgt->sgl), (int)nents);
	/* sg_free_table() follows the chain links when the test ends. */
}

/* ---------------------------------------------------------------------
 * sg_kmap()
 */

static void sgt_kmap(struct kunit *test)
{
	struct page *page = sgt_store(test);
	u8 *store = page_address(page);
	struct scatterlist sg;
	u8 *p;

	sgt_fill(store, SGT_BYTES, 1);
	sg_init_table(&sg, 1);

	/* An offset inside the first page. */
	sg_set_page(&sg, page, 64, 100);
	p = sg_kmap(&sg);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_EXPECT_EQ(test, p[0], sgt_byte(100, 1));
	KUNIT_EXPECT_EQ(test, p[63], sgt_byte(163, 1));
	p[1] = ~sgt_byte(101, 1);
	sg_kunmap(&sg, p);
	KUNIT_EXPECT_EQ(test, store[101], (u8)~sgt_byte(101, 1));

	/* An offset past the first page: the page holding it is mapped. */
	sg_set_page(&sg, page, PAGE_SIZE - 5, 2 * PAGE_SIZE + 5);
	p = sg_kmap(&sg);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_EXPECT_EQ(test, p[0], sgt_byte(2 * PAGE_SIZE + 5, 1));
	KUNIT_EXPECT_EQ(test, p[PAGE_SIZE - 6], sgt_byte(3 * PAGE_SIZE - 1, 1));
	sg_kunmap(&sg, p);

	/* I/O memory is refused; sg_kunmap() takes the NULL. */
	sg_set_iomem_page(&sg, page, 64, 100);
	p = sg_kmap(&sg);
	if (sgt_iomem) {
		KUNIT_EXPECT_NULL(test, p);
	} else {
		KUNIT_EXPECT_NOT_NULL(test, p);
		KUNIT_EXPECT_EQ(test, p[0], sgt_byte(100, 1));
	}
	sg_kunmap(&sg, p);

	/* Once the entry holds RAM again, it can be mapped again. */
	sg_set_page(&sg, page + 3, 16, 7);
	p = sg_kmap(&sg);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_EXPECT_EQ(test, p[0], sgt_byte(3 * PAGE_SIZE + 7, 1));
	sg_kunmap(&sg, p);
}

/* ---------------------------------------------------------------------
 * A list that mixes RAM and I/O memory entries, for the iterator and the
 * copy helpers.  Page numbers are relative to the store.
 */

static const struct sgt_want sgt_layout[] = {
	{ 0, 100, 300, false },
	{ 0, 512, PAGE_SIZE, true },	/* crosses from page 0 into page 1 */
	{ 2, 0, PAGE_SIZE, false },	/* a whole page */
	{ 3, 8, 56, true },
	{ 3, 64, 1, false },		/* a single byte */
	{ 3, 128, 2000, true },
	{ 1, 1024, 100, true },		/* two I/O memory entries in a row */
	{ 3, 2200, 50, false },
};

/* Bytes described by sgt_layout, and where each of them starts. */
#define SGT_E1		300
#define SGT_E2		(SGT_E1 + PAGE_SIZE)
#define SGT_E3		(SGT_E2 + PAGE_SIZE)
#define SGT_E4		(SGT_E3 + 56)
#define SGT_E5		(SGT_E4 + 1)
#define SGT_E6		(SGT_E5 + 2000)
#define SGT_E7		(SGT_E6 + 100)
#define SGT_LEN		(SGT_E7 + 50)

/* Split point of the chained variant of the list. */
#define SGT_SPLIT	3

struct sgt_mixed {
	struct page *page;
	u8 *store;
	struct scatterlist *flat;	/* one array */
	struct scatterlist *chained;	/* SGT_SPLIT entries, chain, rest */
	unsigned int *map;		/* list byte -> store offset */
};

static void sgt_set_entries(struct scatterlist *sg, struct page *page,
			    const struct sgt_want *w, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++, w++) {
		if (w->iomem)
			sg_set_iomem_page(&sg[i], page + w->page, w->length,
					  w->offset);
		else
			sg_set_page(&sg[i], page + w->page, w->length,
				    w->offset);
	}
}

static void sgt_mixed_init(struct kunit *test, struct sgt_mixed *m)
{
	const unsigned int n = ARRAY_SIZE(sgt_layout);
	struct scatterlist *second;
	unsigned int i, j, pos = 0;

	m->page = sgt_store(test);
	m->store = page_address(m->page);

	m->flat = kunit_kcalloc(test, n, sizeof(*m->flat), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m->flat);
	sg_init_table(m->flat, n);
	sgt_set_entries(m->flat, m->page, sgt_layout, n);

	m->chained = kunit_kcalloc(test, SGT_SPLIT + 1, sizeof(*m->chained),
				   GFP_KERNEL);
	second = kunit_kcalloc(test, n - SGT_SPLIT, sizeof(*second),
			       GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m->chained);
	KUNIT_ASSERT_NOT_NULL(test, second);
	sg_init_table(m->chained, SGT_SPLIT + 1);
	sg_init_table(second, n - SGT_SPLIT);
	sgt_set_entries(m->chained, m->page, sgt_layout, SGT_SPLIT);
	sgt_set_entries(second, m->page, sgt_layout + SGT_SPLIT,
			n - SGT_SPLIT);
	sg_chain(m->chained, SGT_SPLIT + 1, second);

	m->map = kunit_kmalloc_array(test, SGT_LEN, sizeof(*m->map),
				     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m->map);
	for (i = 0; i < n; i++)
		for (j = 0; j < sgt_layout[i].length; j++, pos++) {
			KUNIT_ASSERT_LT(test, pos, SGT_LEN);
			m->map[pos] = sgt_layout[i].page * PAGE_SIZE +
				      sgt_layout[i].offset + j;
		}
	KUNIT_ASSERT_EQ(test, pos, SGT_LEN);
}

/* Whether byte @pos of the mixed list is in an I/O memory entry. */
static bool sgt_mixed_iomem(size_t pos)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sgt_layout); i++) {
		if (pos < sgt_layout[i].length)
			return sgt_layout[i].iomem;
		pos -= sgt_layout[i].length;
	}
	return false;
}

static void sgt_miter_refuses_iomem(struct kunit *test)
{
	struct sgt_mixed m;
	struct sg_mapping_iter miter;
	bool more;

	sgt_mixed_init(test, &m);

	/*
	 * The first entry is RAM, the second I/O memory.  The refusal logs
	 * a message the first time only, and never a warning.
	 */
	sg_miter_start(&miter, m.flat, ARRAY_SIZE(sgt_layout),
		       SG_MITER_FROM_SG);
	KUNIT_ASSERT_TRUE(test, sg_miter_next(&miter));
	KUNIT_EXPECT_FALSE(test, miter.is_iomem);
	KUNIT_EXPECT_NOT_NULL(test, miter.addr);
	KUNIT_EXPECT_TRUE(test, !miter.ioaddr);
	KUNIT_EXPECT_EQ(test, miter.length, (size_t)300);
	KUNIT_EXPECT_EQ(test, sg_miter_page_offset(&miter), 100U);

	more = sg_miter_next(&miter);
	KUNIT_EXPECT_EQ(test, more, !sgt_iomem);
	if (sgt_iomem) {
		KUNIT_EXPECT_NULL(test, miter.addr);
		KUNIT_EXPECT_TRUE(test, !miter.ioaddr);
		KUNIT_EXPECT_NULL(test, miter.page);
		KUNIT_EXPECT_FALSE(test, miter.is_iomem);
		/* It stays stopped there. */
		KUNIT_EXPECT_FALSE(test, sg_miter_next(&miter));
		KUNIT_EXPECT_NULL(test, miter.addr);
	}
	sg_miter_stop(&miter);

	/* Starting on the I/O memory entry: nothing at all. */
	sg_miter_start(&miter, &m.flat[1], ARRAY_SIZE(sgt_layout) - 1,
		       SG_MITER_TO_SG);
	KUNIT_EXPECT_EQ(test, sg_miter_next(&miter), !sgt_iomem);
	sg_miter_stop(&miter);
}

/*
 * Walks the mixed list with SG_MITER_IOMEM, from byte @skip, consuming
 * only half of each I/O memory chunk at a time, and checks every chunk
 * against the store.
 */
static void sgt_miter_walk(struct kunit *test, struct sgt_mixed *m,
			   struct scatterlist *sgl, unsigned int flags,
			   size_t skip)
{
	struct sg_mapping_iter miter;
	size_t pos = skip;
	u8 *buf;

	buf = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);

	sg_miter_start(&miter, sgl, ARRAY_SIZE(sgt_layout),
		       flags | SG_MITER_FROM_SG | SG_MITER_IOMEM);
	KUNIT_ASSERT_TRUE(test, sg_miter_skip(&miter, skip));
	while (sg_miter_next(&miter)) {
		size_t len = miter.length;
		bool iomem = sgt_mixed_iomem(pos) && sgt_iomem;
		unsigned int where;

		if (pos >= SGT_LEN || !len || len > PAGE_SIZE)
			break;
		where = m->map[pos];

		KUNIT_EXPECT_EQ(test, miter.is_iomem, iomem);
		KUNIT_EXPECT_PTR_EQ(test, miter.page,
				    m->page + where / PAGE_SIZE);
		KUNIT_EXPECT_EQ(test, sg_miter_page_offset(&miter),
				where % PAGE_SIZE);
		if (miter.is_iomem) {
			KUNIT_EXPECT_NULL(test, miter.addr);
			KUNIT_ASSERT_FALSE(test, !miter.ioaddr);
			memcpy_fromio(buf, miter.ioaddr, len);
		} else {
			KUNIT_EXPECT_TRUE(test, !miter.ioaddr);
			KUNIT_ASSERT_NOT_NULL(test, miter.addr);
			memcpy(buf, miter.addr, len);
		}
		/* A chunk never leaves its page, so it is contiguous. */
		KUNIT_EXPECT_EQ(test, m->map[pos + len - 1], where + len - 1);
		KUNIT_EXPECT_MEMEQ(test, buf, m->store + where, len);

		if (miter.is_iomem && len > 1)
			miter.consumed = len / 2;
		pos += miter.consumed;
	}
	sg_miter_stop(&miter);
	KUNIT_EXPECT_EQ(test, pos, (size_t)SGT_LEN);
}

static void sgt_miter_walks_iomem(struct kunit *test)
{
	static const size_t skips[] = {
		0, 1, SGT_E1, SGT_E1 + PAGE_SIZE - 512 - 1, SGT_E4,
		SGT_E6 + 99, SGT_LEN - 1,
	};
	struct sgt_mixed m;
	unsigned int i;

	sgt_mixed_init(test, &m);
	sgt_fill(m.store, SGT_BYTES, 2);

	for (i = 0; i < ARRAY_SIZE(skips); i++) {
		sgt_miter_walk(test, &m, m.flat, 0, skips[i]);
		sgt_miter_walk(test, &m, m.chained, 0, skips[i]);
	}
}

/* ---------------------------------------------------------------------
 * Copy helpers
 */

struct sgt_copy_case {
	const char *desc;
	size_t skip;
	size_t buflen;
};

static const struct sgt_copy_case sgt_copy_cases[] = {
	{ "nothing", 0, 0 },
	{ "nothing, skip", 1000, 0 },
	{ "everything", 0, SGT_LEN },
	{ "more than everything", 0, SGT_LEN + 100 },
	{ "all but the first byte", 1, SGT_LEN },
	{ "first byte", 0, 1 },
	{ "inside the first entry", 10, 20 },
	{ "from RAM into I/O memory", SGT_E1 - 10, 20 },
	{ "I/O memory entry start", SGT_E1, 1 },
	{ "whole I/O memory entry", SGT_E1, PAGE_SIZE },
	{ "page boundary inside I/O memory", SGT_E1 + PAGE_SIZE - 512 - 3, 6 },
	{ "from I/O memory into RAM", SGT_E2 - 1, 2 },
	{ "whole RAM page", SGT_E2, PAGE_SIZE },
	{ "across the single byte entry", SGT_E3 + 50, 10 },
	{ "the single byte entry", SGT_E4, 1 },
	{ "two I/O memory entries", SGT_E6 - 20, 40 },
	{ "across the chain link", SGT_E3 - 5, 10 },
	{ "long, from inside a page", SGT_E2 + 4, PAGE_SIZE + 1000 },
	{ "last byte", SGT_LEN - 1, 5 },
	{ "skip everything", SGT_LEN, 1 },
	{ "skip past the end", SGT_LEN + 1, 1 },
};

KUNIT_ARRAY_PARAM_DESC(sgt_copy, sgt_copy_cases, desc);

enum sgt_copy_op { SGT_TO_BUF, SGT_FROM_BUF, SGT_ZERO };

static void sgt_check_copy(struct kunit *test, struct sgt_mixed *m,
			   struct scatterlist *sgl, const struct sgt_copy_case *c,
			   enum sgt_copy_op op, bool pcopy)
{
	const size_t bufsize = SGT_LEN + 128;
	const unsigned int nents = ARRAY_SIZE(sgt_layout);
	size_t want = 0, got = 0, i, bad = 0;
	u8 *shadow, *buf;

	if (c->skip < SGT_LEN)
		want = min_t(size_t, c->buflen, SGT_LEN - c->skip);

	shadow = kunit_kmalloc(test, SGT_BYTES, GFP_KERNEL);
	buf = kunit_kmalloc(test, bufsize, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, shadow);
	KUNIT_ASSERT_NOT_NULL(test, buf);

	sgt_fill(m->store, SGT_BYTES, 3 + op);
	memcpy(shadow, m->store, SGT_BYTES);

	switch (op) {
	case SGT_TO_BUF:
		memset(buf, 0xa5, bufsize);
		if (pcopy)
			got = sg_pcopy_to_buffer(sgl, nents, buf, c->buflen,
						 c->skip);
		else
			got = sg_copy_to_buffer(sgl, nents, buf, c->buflen);
		for (i = 0; i < want; i++)
			bad += buf[i] != shadow[m->map[c->skip + i]];
		for (i = want; i < bufsize; i++)
			bad += buf[i] != 0xa5;
		break;
	case SGT_FROM_BUF:
		sgt_fill(buf, bufsize, 7);
		if (pcopy)
			got = sg_pcopy_from_buffer(sgl, nents, buf, c->buflen,
						   c->skip);
		else
			got = sg_copy_from_buffer(sgl, nents, buf, c->buflen);
		for (i = 0; i < want; i++)
			shadow[m->map[c->skip + i]] = buf[i];
		break;
	case SGT_ZERO:
		got = sg_zero_buffer(sgl, nents, c->buflen, c->skip);
		for (i = 0; i < want; i++)
			shadow[m->map[c->skip + i]] = 0;
		break;
	}

	KUNIT_EXPECT_EQ_MSG(test, got, want, "op %d, pcopy %d", op, pcopy);
	KUNIT_EXPECT_EQ_MSG(test, bad, (size_t)0, "op %d, pcopy %d", op, pcopy);
	/* Every byte of the store, in the list or not, is as expected. */
	KUNIT_EXPECT_MEMEQ_MSG(test, m->store, shadow, SGT_BYTES,
			       "op %d, pcopy %d", op, pcopy);
}

static void sgt_copy(struct kunit *test)
{
	const struct sgt_copy_case *c = test->param_value;
	struct scatterlist *lists[2];
	struct sgt_mixed m;
	unsigned int i;

	sgt_mixed_init(test, &m);
	lists[0] = m.flat;
	lists[1] = m.chained;

	for (i = 0; i < ARRAY_SIZE(lists); i++) {
		sgt_check_copy(test, &m, lists[i], c, SGT_TO_BUF, true);
		sgt_check_copy(test, &m, lists[i], c, SGT_FROM_BUF, true);
		sgt_check_copy(test, &m, lists[i], c, SGT_ZERO, true);
		if (c->skip)
			continue;
		sgt_check_copy(test, &m, lists[i], c, SGT_TO_BUF, false);
		sgt_check_copy(test, &m, lists[i], c, SGT_FROM_BUF, false);
	}
}

/* ---------------------------------------------------------------------
 * DMA page iterator.  The DMA side of the list is written by hand, the
 * way an IOMMU may leave it: fewer DMA segments than CPU entries, DMA
 * lengths that differ from the CPU lengths.  All entries start at
 * offset 0, and some are marked as I/O memory, which must not matter.
 */

#define SGT_DMA_A	((dma_addr_t)SZ_1M)
#define SGT_DMA_B	((dma_addr_t)SZ_8M)
#define SGT_DMA_C	((dma_addr_t)SZ_16M)
#define SGT_DMA_D	((dma_addr_t)SZ_32M)
#define SGT_NENTS	4

struct sgt_dma_case {
	const char *desc;
	unsigned int cpu_len[SGT_NENTS];
	unsigned int dma_nents;
	dma_addr_t dma_addr[SGT_NENTS];
	unsigned int dma_len[SGT_NENTS];
	unsigned long pgoffset;
	unsigned int npages;
	dma_addr_t want[8];
};

#define SGT_P	PAGE_SIZE
#define SGT_4P	{ SGT_P, SGT_P, SGT_P, SGT_P }

static const struct sgt_dma_case sgt_dma_cases[] = {
	{ "one segment per entry", SGT_4P, 4,
	  { SGT_DMA_A, SGT_DMA_B, SGT_DMA_C, SGT_DMA_D },
	  { SGT_P, SGT_P, SGT_P, SGT_P }, 0,
	  4, { SGT_DMA_A, SGT_DMA_B, SGT_DMA_C, SGT_DMA_D } },
	{ "three entries merged", SGT_4P, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { 3 * SGT_P, SGT_P }, 0,
	  4, { SGT_DMA_A, SGT_DMA_A + SGT_P, SGT_DMA_A + 2 * SGT_P,
	       SGT_DMA_B } },
	{ "all entries merged", SGT_4P, 1,
	  { SGT_DMA_A }, { 4 * SGT_P }, 0,
	  4, { SGT_DMA_A, SGT_DMA_A + SGT_P, SGT_DMA_A + 2 * SGT_P,
	       SGT_DMA_A + 3 * SGT_P } },
	{ "partial last pages", SGT_4P, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { SGT_P + 1, 2 * SGT_P - 1 }, 0,
	  4, { SGT_DMA_A, SGT_DMA_A + SGT_P, SGT_DMA_B, SGT_DMA_B + SGT_P } },
	{ "DMA longer than CPU entry",
	  { SGT_P / 2, SGT_P / 2, SGT_P / 2, SGT_P / 2 }, 1,
	  { SGT_DMA_C }, { 2 * SGT_P }, 0,
	  2, { SGT_DMA_C, SGT_DMA_C + SGT_P } },
	{ "DMA shorter than CPU entry", { 3 * SGT_P, SGT_P, 0, 0 }, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { SGT_P, SGT_P }, 0,
	  2, { SGT_DMA_A, SGT_DMA_B } },
	{ "start inside a segment", SGT_4P, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { 3 * SGT_P, SGT_P }, 2,
	  2, { SGT_DMA_A + 2 * SGT_P, SGT_DMA_B } },
	{ "start at the second segment", SGT_4P, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { 3 * SGT_P, SGT_P }, 3,
	  1, { SGT_DMA_B } },
	{ "start past the end", SGT_4P, 2,
	  { SGT_DMA_A, SGT_DMA_B }, { 3 * SGT_P, SGT_P }, 10,
	  0, { } },
	{ "no DMA segment", SGT_4P, 0,
	  { SGT_DMA_A }, { SGT_P }, 0,
	  0, { } },
};

KUNIT_ARRAY_PARAM_DESC(sgt_dma, sgt_dma_cases, desc);

static void sgt_dma_page_iter(struct kunit *test)
{
	const struct sgt_dma_case *c = test->param_value;
	struct page *page = sgt_store(test);
	struct scatterlist sg[SGT_NENTS];
	struct sg_dma_page_iter dit;
	struct sg_page_iter pit;
	struct sg_table sgt;
	unsigned int i, n, cpu_pages = 0;

	if (!IS_ENABLED(CONFIG_NEED_SG_DMA_LENGTH))
		kunit_skip(test, "sg_dma_len() is the CPU length here");

	sg_init_table(sg, SGT_NENTS);
	for (i = 0; i < SGT_NENTS; i++) {
		unsigned int len = c->cpu_len[i];

		if (i & 1)
			sg_set_iomem_page(&sg[i], page + i, len, 0);
		else
			sg_set_page(&sg[i], page + i, len, 0);
		cpu_pages += DIV_ROUND_UP(len, PAGE_SIZE);
		/* Past dma_nents: garbage that must never be looked at. */
		sg_dma_address(&sg[i]) = i < c->dma_nents ? c->dma_addr[i] :
					 (dma_addr_t)SZ_2G;
		sg_dma_len(&sg[i]) = i < c->dma_nents ? c->dma_len[i] :
				     3 * SGT_P;
	}

	n = 0;
	for_each_sg_dma_page(sg, &dit, c->dma_nents, c->pgoffset) {
		KUNIT_ASSERT_LT(test, n, c->npages);
		KUNIT_EXPECT_EQ(test, sg_page_iter_dma_address(&dit),
				c->want[n]);
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, c->npages);

	/* The sg_table flavour walks nents, the DMA segments. */
	sgt.sgl = sg;
	sgt.nents = c->dma_nents;
	sgt.orig_nents = SGT_NENTS;
	n = 0;
	for_each_sgtable_dma_page(&sgt, &dit, c->pgoffset) {
		KUNIT_ASSERT_LT(test, n, c->npages);
		KUNIT_EXPECT_EQ(test, sg_page_iter_dma_address(&dit),
				c->want[n]);
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, c->npages);

	/* While the CPU page iterator walks orig_nents, the CPU entries. */
	n = 0;
	for_each_sgtable_page(&sgt, &pit, 0) {
		KUNIT_ASSERT_LT(test, n, cpu_pages);
		KUNIT_EXPECT_PTR_EQ(test, sg_page_iter_page(&pit),
				    nth_page(sg_page(pit.sg), pit.sg_pgoffset));
		KUNIT_EXPECT_PTR_EQ(test, sg_page(pit.sg),
				    page + (pit.sg - sg));
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, cpu_pages);
}

static struct kunit_case sgt_test_cases[] = {
	KUNIT_CASE(sgt_iomem_mark),
	KUNIT_CASE(sgt_iomem_mark_end),
	KUNIT_CASE(sgt_iomem_chain),
	KUNIT_CASE(sgt_alloc_table_chained),
	KUNIT_CASE(sgt_kmap),
	KUNIT_CASE(sgt_miter_refuses_iomem),
	KUNIT_CASE(sgt_miter_walks_iomem),
	KUNIT_CASE_PARAM(sgt_copy, sgt_copy_gen_params),
	KUNIT_CASE_PARAM(sgt_dma_page_iter, sgt_dma_gen_params),
	{}
};

static struct kunit_suite sgt_test_suite = {
	.name = "scatterlist",
	.test_cases = sgt_test_cases,
};

kunit_test_suite(sgt_test_suite);

MODULE_DESCRIPTION("KUnit tests for the scatterlist helpers");
MODULE_LICENSE("GPL");
