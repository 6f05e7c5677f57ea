// SPDX-License-Identifier: GPL-2.0-only
///
/// Find code that reaches the data of a scatterlist entry by mapping its
/// page directly: kmap(), kmap_atomic(), kmap_local_page() or
/// page_address() of sg_page().  Such code cannot tell that the entry may
/// point at I/O memory (PCI peer-to-peer memory, see sg_is_iomem()) and
/// would access it with plain loads and stores.  Use sg_kmap(), which
/// refuses I/O memory entries, or the sg_copy_*() helpers or a mapping
/// iterator started with SG_MITER_IOMEM, which handle them.
///
/// The patch mode only rewrites kmap_local_page(sg_page(S)) + S->offset,
/// when the same pointer is later given to kunmap_local(), into sg_kmap()
/// and sg_kunmap().  Review every change: sg_kmap() returns NULL for an
/// I/O memory entry, which the caller must handle, and it maps only the
/// page that holds byte S->offset.  The other forms need a human.
///
// Confidence: Moderate
// Options: --no-includes --include-headers
//
// Keywords: sg_kmap, sg_page, kmap, kmap_atomic, kmap_local_page
//

virtual context
virtual patch
virtual org
virtual report

@rp depends on patch@
expression S, E, E1;
@@

- E = kmap_local_page(sg_page(S)) + S->offset;
+ E = sg_kmap(S);
  ... when != S = E1
      when != E = E1
- kunmap_local(E);
+ sg_kunmap(S, E);

@r depends on !patch@
expression S, N;
identifier f = {kmap, kmap_atomic, kmap_local_page, page_address};
position p;
@@

(
* f@p(sg_page(S))
|
* f@p(nth_page(sg_page(S), N))
|
* f@p(sg_page(S) + N)
)

@script:python depends on report@
p << r.p;
f << r.f;
@@

coccilib.report.print_report(p[0],
	"WARNING: %s() of sg_page() cannot see I/O memory entries, use sg_kmap() or the sg_copy_*() helpers" % f)

@script:python depends on org@
p << r.p;
f << r.f;
@@

coccilib.org.print_todo(p[0],
	"%s() of sg_page() cannot see I/O memory entries, use sg_kmap() or the sg_copy_*() helpers" % f)
