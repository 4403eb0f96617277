/*
 * comp.h: what the compiler's two files share (not API): the state of one
 * function's compilation (struct wcomp), the emission primitives, and the
 * fusions of fuse.c that code.c calls. code.c validates and emits; fuse.c
 * chooses superinstructions by looking back at what was just emitted.
 */
#ifndef BT_WASM_COMP_H
#define BT_WASM_COMP_H

#include <stdbool.h>
#include <stdint.h>

#include "reader.h"
#include "wasm_int.h"

#include "wasm_int.h"

enum { K_SLOT = 0, K_LOCAL, K_CONST };

struct cval {
	uint8_t	 type;
	uint8_t	 kind;
	uint32_t idx;
	uint64_t c;
};

#define NOFIX UINT32_MAX

struct cctl {
	uint8_t	       op; /* 0 function, 0x02 block, 0x03 loop, 0x04 if, 0x05 else */
	bool	       unreachable;
	bool	       live_entry;
	uint8_t	       single;
	uint32_t       nparams;
	uint32_t       nresults;
	const uint8_t *params;
	const uint8_t *results;
	uint32_t       height;
	uint32_t       label_pc;
	uint32_t       fixups;
	uint32_t       else_cell;
};

/* A block's result types; a single value type is kept in the frame itself
 * (frames move when the control stack grows, so no pointer to it is kept). */
static inline const uint8_t *
res_of(const struct cctl *f)
{
	return f->results != NULL ? f->results : &f->single;
}

struct wcomp {
	bt_wasm_module *m;
	struct rd	r;
	const struct wfunctype *ft;
	uint32_t	nlocals;
	uint8_t	       *ltypes;
	struct cval    *vals;
	uint32_t	nvals;
	uint32_t	cvals;
	struct cctl    *ctls;
	uint32_t	nctls;
	uint32_t	cctls;
	uint32_t	max_height;
	uint32_t	nlazy;
	bool		live;
	bool		oom;
	uint32_t	cur_off;
	/* the last emitted instruction, for tricks 2 and 3 */
	uint32_t	last_start;
	uint32_t	last_dst; /* cell of its result slot, or NOFIX */
	uint32_t	last_h;	  /* stack index it wrote */
	int		last_op;
	int		last_base; /* last_op without its acc variant (trick 4) */
	/* the same for the instruction before it */
	uint32_t	prev_dst;
	uint32_t	prev_h;
	/* the frame slot whose value the interpreter's acc holds when the
	 * next instruction runs, or NOFIX (trick 4) */
	uint32_t	acc_slot;
	uint32_t	prev_acc_slot; /* acc_slot before the last instruction */
	/* the last instruction and the two before it, also after trick 2
	 * (which forgets last_op), until a label or a fusion */
	int		seq_op;
	uint32_t	seq_start;
	int		prev_seq_op;
	uint32_t	prev_seq_start;
	int		prev2_seq_op;
	uint32_t	prev2_seq_start;
	int		prev3_seq_op; /* one more, for fuse_maj (trick 26) */
	uint32_t	prev3_seq_start;
	/* the code cell of the latest label (a branch target, the start of
	 * a block, the function's entry): no fusion reaches below it */
	uint32_t	label_pc;
};

#define S(c, h) ((c)->nlocals + (h))

int bt__wasm_base_of(int o); /* fuse.c */

/* ---- code emission ---- */

static inline void
cell(struct wcomp *c, uint64_t v)
{
	bt_wasm_module *m = c->m;

	if (m->ncode == c->m->ccode) {
		size_t nc = c->m->ccode ? c->m->ccode * 2 : 1024;
		uint64_t *p;

		if (nc > (size_t)INT32_MAX) {
			c->oom = true;
			return;
		}
		p = bt_realloc(m->code, nc * sizeof(*p));
		if (p == NULL) {
			c->oom = true;
			return;
		}
		m->code = p;
		c->m->ccode = nc;
	}
	m->code[m->ncode++] = v;
}

static inline void
op(struct wcomp *c, int o)
{
	bt_wasm_module *m = c->m;

	if (m->nmap == c->m->cmap) {
		size_t nc = c->m->cmap ? c->m->cmap * 2 : 256;
		struct wmap *p = bt_realloc(m->map, nc * sizeof(*p));

		if (p == NULL) {
			c->oom = true;
			return;
		}
		m->map = p;
		c->m->cmap = nc;
	}
	if (c->oom)
		return;
	m->map[m->nmap].pc = (uint32_t)m->ncode;
	m->map[m->nmap].off = c->cur_off;
	m->nmap++;
	c->prev_dst = c->last_dst;
	c->prev_h = c->last_h;
	c->prev_acc_slot = c->acc_slot;
	c->last_dst = NOFIX;
	c->acc_slot = NOFIX;
	c->prev3_seq_op = c->prev2_seq_op;
	c->prev3_seq_start = c->prev2_seq_start;
	c->prev2_seq_op = c->prev_seq_op;
	c->prev2_seq_start = c->prev_seq_start;
	c->prev_seq_op = c->seq_op;
	c->prev_seq_start = c->seq_start;
	c->seq_op = o;
	c->seq_start = (uint32_t)m->ncode;
	c->last_start = (uint32_t)m->ncode;
	c->last_op = o;
	c->last_base = bt__wasm_base_of(o);
	cell(c, bt__wasm_handler(o));
}

/* Record that the instruction just emitted wrote stack index h through
 * the cell just emitted (its result operand). */
static inline void
produced(struct wcomp *c, uint32_t h)
{
	if (c->oom)
		return;
	c->last_dst = (uint32_t)c->m->ncode - 1;
	c->last_h = h;
	c->acc_slot = S(c, h);
}

static inline void
forget(struct wcomp *c)
{
	c->last_dst = NOFIX;
	c->last_op = -1;
	c->last_base = -1;
	c->prev_dst = NOFIX;
	c->acc_slot = NOFIX;
	c->seq_op = -1;
	c->prev_seq_op = -1;
	c->prev2_seq_op = -1;
	c->prev3_seq_op = -1;
}

/* A label at the end of the code: forget what was emitted before it. */
static inline void
label_here(struct wcomp *c)
{
	forget(c);
	c->label_pc = (uint32_t)c->m->ncode;
}

/* Removes the instruction just emitted (a fusion takes it into the next
 * one). acc then holds what it held before that instruction. */
static inline void
unemit_last(struct wcomp *c)
{
	uint32_t a = c->prev_acc_slot;
	int so = c->prev_seq_op, po = c->prev2_seq_op, p3 = c->prev3_seq_op;
	uint32_t ss = c->prev_seq_start, ps = c->prev2_seq_start;
	uint32_t s3 = c->prev3_seq_start;

	c->m->ncode = c->last_start;
	c->m->nmap--;
	forget(c);
	c->acc_slot = a;
	c->seq_op = so;
	c->seq_start = ss;
	c->prev_seq_op = po;
	c->prev_seq_start = ps;
	c->prev2_seq_op = p3;
	c->prev2_seq_start = s3;
}

static inline void
emit_const(struct wcomp *c, uint32_t d, uint64_t v)
{
	if ((v >> 32) == 0) {
		op(c, OP_CONST32);
		cell(c, d);
		cell(c, (uint32_t)v);
	} else {
		op(c, OP_CONST64);
		cell(c, d);
		cell(c, (uint32_t)v);
		cell(c, (uint32_t)(v >> 32));
	}
	c->acc_slot = d;
}

/* A second code offset inside the instruction just emitted, at cell pc:
 * a trap in its second part reports from there. */
static inline void
map_add(struct wcomp *c, uint32_t pc, uint32_t off)
{
	bt_wasm_module *m = c->m;

	if (c->oom)
		return;
	if (m->nmap == m->cmap) {
		size_t nc = m->cmap * 2;
		struct wmap *p = bt_realloc(m->map, nc * sizeof(*p));

		if (p == NULL) {
			c->oom = true;
			return;
		}
		m->map = p;
		m->cmap = nc;
	}
	m->map[m->nmap].pc = pc;
	m->map[m->nmap].off = off;
	m->nmap++;
}

/* A condition: either a slot (branch if non-zero) or a fused compare. */
struct cond {
	int	 op; /* OP_BR_IF, or a fused OP_BR_I32_xx... */
	uint32_t a, b;
};

/* A load that a fusion takes into the instruction consuming it. */
struct ldfuse {
	int	 op;
	int	 ld; /* the load's kind: OP_LD32, OP_LD64 or OP_LD16S32 */
	uint32_t base, imm, off, off_map;
	uint32_t acc_slot; /* what acc holds when the fused op runs */
};

/*
 * The fusions (fuse.c). Each looks only at the instructions emitted since
 * the last label; a take_ function that matches removes what it takes
 * (unemit_last) and returns true or the fused op, else it changes nothing.
 * The comment at each definition gives the shape it matches.
 */

/* bt__wasm_fuse_init fills the table of acc variants; called once before
 * the first compilation. bt__wasm_base_of gives the plain form of an acc
 * variant (o itself otherwise, and o when o < 0). */
void bt__wasm_fuse_init(void);
/* bt__wasm_acc_variant returns the variant of o that reads operand which
 * (0: a, 1: b) from acc when stack entry idx is what acc holds, else o. */
int bt__wasm_acc_variant(struct wcomp *c, int o, uint32_t idx, int which);
/* bt__wasm_fuse_cond fills *out with the branch condition for the entry v
 * just popped from stack index h (a fused compare if the last instruction
 * computed it); bt__wasm_cond_negate gives the opposite branch op. */
void bt__wasm_fuse_cond(struct wcomp *c, const struct cval *v, uint32_t h,
    struct cond *out);
int bt__wasm_cond_negate(int o);
/* bt__wasm_fuse_inc_branch emits a loop latch (counter step and branch) in
 * one instruction and returns its offset cell, or NOFIX (nothing done). */
uint32_t bt__wasm_fuse_inc_branch(struct wcomp *c, const struct cond *k);
/* bt__wasm_fuse_addr returns the memory op with the address addition at
 * stack index h taken in (operands in *a, *b and *k), or -1. */
int bt__wasm_fuse_addr(struct wcomp *c, uint32_t h, int memop, uint32_t *a,
    uint32_t *b, uint32_t *k);
bool bt__wasm_fuse_load(struct wcomp *c, uint32_t h, int o,
    struct ldfuse *out);
bool bt__wasm_fuse_load_a(struct wcomp *c, int ld, uint32_t dst,
    struct ldfuse *out);
bool bt__wasm_fuse_shl(struct wcomp *c, uint32_t h, uint32_t *sa,
    uint32_t *sb, uint32_t *k);
bool bt__wasm_fuse_add(struct wcomp *c, uint32_t h, uint32_t *sa,
    uint32_t *sb, uint32_t *sc);
bool bt__wasm_fuse_mul(struct wcomp *c, uint32_t h, int o, uint32_t *sa,
    uint32_t *sb, uint32_t *sc, int *fo);
/* bt__wasm_fuse_rmw emits a read-modify-write of memory for the store of
 * sv to (sa, off) and returns true, or returns false. */
bool bt__wasm_fuse_rmw(struct wcomp *c, uint32_t sa, uint32_t sv,
    uint32_t off);
/* bt__wasm_fuse_bits emits an xor of rotations and shifts of one value,
 * or an and-not, for the binary op va whose operands at h and h + 1 (slots
 * sa and sb) were just popped, and returns true; or returns false. */
bool bt__wasm_fuse_bits(struct wcomp *c, uint32_t h, int va, uint32_t sa,
    uint32_t sb);
/* bt__wasm_fuse_addc emits x + (a op b) in one instruction for the
 * i32.add va of the entries at h and h + 1 (slots sa and sb, popped) and
 * returns true; or returns false. */
bool bt__wasm_fuse_addc(struct wcomp *c, uint32_t h, int va, uint32_t sa,
    uint32_t sb);
/* bt__wasm_fuse_ld2 makes the LD32_X just emitted (result at stack
 * index h) and an LD32_X just before it one instruction, when they share
 * base and shift. */
void bt__wasm_fuse_ld2(struct wcomp *c, uint32_t h);
/* bt__wasm_fuse_addf emits x + f(...) in one instruction for the i32.add
 * of the entries at h and h + 1 (slots sa and sb, not yet popped) when
 * the instruction just emitted computed one of them with a bit function
 * (trick 20), and returns true; or returns false. */
bool bt__wasm_fuse_addf(struct wcomp *c, uint32_t h, uint32_t sa,
    uint32_t sb);
bool bt__wasm_fuse_add3_and(struct wcomp *c, uint32_t sc, uint32_t *p,
    uint32_t *q);
/* bt__wasm_fuse_mac emits c + products of loads in one instruction for
 * the i32.add of the entries at h and h + 1 (slots sa and sb, not yet
 * popped) when the instructions just emitted computed the products
 * (trick 22), and returns true; or returns false. */
bool bt__wasm_fuse_mac(struct wcomp *c, uint32_t h, uint32_t sa,
    uint32_t sb);
/* bt__wasm_fuse_add2 emits the i32.add of slots sa and sb (stack index
 * h, popped) together with the acc-reading i32.add just before it when
 * one of sa and sb is the local that one read from acc (trick 24), and
 * returns true; or returns false. */
bool bt__wasm_fuse_add2(struct wcomp *c, uint32_t h, uint32_t sa,
    uint32_t sb);
/* bt__wasm_take_rot3x removes the I32_ROT3X at cell at (op o, the last
 * instruction, whole) when it wrote the stack temporary slot, after the
 * last label, and returns its operands (v, i, j, k) in out (trick 26);
 * or returns false and changes nothing. */
bool bt__wasm_take_rot3x(struct wcomp *c, int o, uint32_t at, uint32_t slot,
    uint64_t out[4]);
/* bt__wasm_fuse_post makes the last rewrites (trick 19) over the finished
 * code of one function, from cell start to the end of the module's code;
 * nlocals is the function's number of locals (the first stack slot). */
void bt__wasm_fuse_post(bt_wasm_module *m, uint32_t start, uint32_t nlocals);

#endif
