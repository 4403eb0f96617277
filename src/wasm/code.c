/*
 * code.c: validation and compilation of one function body, in one pass.
 * Called by decode.c for each entry of the code section.
 *
 * Validation is the algorithm of the spec appendix: a stack of operand
 * types and a stack of control frames; code after br/return/unreachable is
 * "unreachable" and pops from it yield an unknown type.
 *
 * Compilation turns the stack machine into a register machine over the
 * frame: locals are slots 0..nlocals of the frame, and the operand at
 * stack height h always lives in slot nlocals + h (heights are static, so
 * every operand has a fixed slot). An instruction names its operand and
 * result slots explicitly. Three cheap tricks remove most moves:
 *
 *  1. local.get and constants are lazy: they push a reference to the local
 *     (or the constant) and the consumer reads the local slot directly (or
 *     takes an immediate form such as I32_ADD_I). A lazy entry is written
 *     to its slot ("materialized") when it must be: at block boundaries,
 *     before a local.set of the same local, for call arguments.
 *  2. local.set right after an instruction that wrote the top slot
 *     rewrites that instruction's result slot to the local.
 *  3. br_if / if right after an integer compare fuse into one
 *     compare-and-branch instruction.
 *
 * The rest make fewer, larger instructions. fuse.c chooses them (each is
 * described where it is done; the names are bt__wasm_fuse_<name>): 4,
 * operands taken from the interpreter's acc register (acc_slot,
 * bt__wasm_acc_variant); 5, MOV2..MOV5 (emit_mov); 6, a load taken into
 * the binary operation that consumes it (_load); 7, shifted-index
 * addressing (_shl); 8, f64 x +/- a*b (_mul); 9, loop counter step +
 * br_if (_inc_branch); 10, f64 read-modify-write of memory (_rmw); 11, a
 * product of two loads (_load_a); 12, i32 compare + select; 13, moves +
 * br (emit_br); plus address additions taken into loads and stores
 * (_addr) and direct calls (CALL_D); 14, a sum of three (_add); 15, an
 * argument x + k computed by the call (CALL_D_ADDI); 16, xors of
 * rotations and shifts of one value, and-not, majority (_bits); 17, x +
 * (a op b) (_addc); 18, two indexed loads from one base (_ld2); 20, x +
 * a bit function of 16 (_addf), and a + b + (p & q) (_add3_and); 22,
 * sums of products of loads, up to an unrolled dot product's four in
 * one instruction (_mac); 23, a back-edge that does its loop head's
 * moves (emit_br_head); 24, one value from acc added to two (_add2);
 * (25, two loads and a compare-and-branch of their values, was tried and
 * dropped: docs/wasm.md); 26, three rotations computed by the add that
 * takes them (take_rot3x);
 * 27, a load taken into x + sigma(v) (in _addf).
 * Every fusion removes instructions emitted since the last label only
 * (it looks back at most three: seq_op, prev_seq_op, prev2_seq_op; 22
 * finds the product before a sum by its handler and map entries, not
 * below label_pc), and keeps exact trap offsets (map_add). Trick 19 runs on each finished function
 * (bt__wasm_fuse_post): f64 acc variants read facc, the interpreter's
 * floating-point accumulator, where the instruction before set it (else
 * they go back to their plain forms), and an instruction whose result
 * only the next one takes from acc becomes its no-store twin; and (trick
 * 21) two indexed loads and the select of their values after them run
 * as one handler put in place of the loads' (the select stays whole, so
 * a jump to it still works). Once all
 * bodies are compiled, bt__wasm_fuse_calls gives each direct call the
 * place of its callee's code and frame end.
 *
 * Invariants the compiler keeps:
 *  - At the start of every block, loop and if, no lazy entry is on the
 *    stack (all values are in their slots). Hence a branch only has to move
 *    the label's values: everything below the label is already in place.
 *  - i32 and f32 values are kept zero-extended in their 64-bit slots, so
 *    i64.extend_i32_u and the reinterpret instructions compile to nothing.
 *  - Tricks 2 to 13 look only at the instructions emitted since the last
 *    label (block end, else, loop, a branch's skip target), which forget()
 *    drops, so no jump can land between an instruction and its rewrite.
 *
 * Branch offsets are relative to the cell holding them. Forward branches to
 * a block's end are chained through their offset cells and patched at end.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "comp.h"

static int
fail(struct wcomp *c, const char *msg)
{
	bt_diag_set(c->r.diag, (int64_t)c->cur_off, "%s", msg);
	return BT_ECORRUPT;
}


static void
emit_mov(struct wcomp *c, uint32_t d, uint32_t a)
{
	if (d == a)
		return;
	if ((c->last_op == OP_MOV || c->last_op == OP_MOV2 ||
		c->last_op == OP_MOV3 || c->last_op == OP_MOV4) &&
	    !c->oom) {
		/* Trick 5: two to five moves in a row (no label between
		 * them, see forget) become one MOV2 .. MOV5, which does them
		 * in order. */
		int o = c->last_op == OP_MOV ? OP_MOV2 :
		    c->last_op == OP_MOV2    ? OP_MOV3 :
		    c->last_op == OP_MOV3    ? OP_MOV4 :
					       OP_MOV5;

		c->m->code[c->last_start] = bt__wasm_handler(o);
		c->last_op = o;
		c->last_base = o;
		c->seq_op = o;
		cell(c, d);
		cell(c, a);
		c->acc_slot = d;
		return;
	}
	/* Moves leave the value moved last in acc. */
	op(c, OP_MOV);
	cell(c, d);
	cell(c, a);
	c->acc_slot = d;
}

/* Put the value of stack entry i into slot d. */
static void
emit_val_to(struct wcomp *c, uint32_t i, uint32_t d)
{
	struct cval *v = &c->vals[i];

	if (v->kind == K_CONST)
		emit_const(c, d, v->c);
	else if (v->kind == K_LOCAL)
		emit_mov(c, d, v->idx);
	else
		emit_mov(c, d, S(c, i));
}

static void
mat(struct wcomp *c, uint32_t i)
{
	struct cval *v = &c->vals[i];

	if (v->kind == K_SLOT)
		return;
	emit_val_to(c, i, S(c, i));
	v->kind = K_SLOT;
	c->nlazy--;
}

static void
flush(struct wcomp *c)
{
	if (c->nlazy == 0)
		return;
	for (uint32_t i = 0; i < c->nvals && c->nlazy > 0; i++)
		mat(c, i);
}

/* The slot an instruction reads entry i from (materializing constants). */
static uint32_t
rslot(struct wcomp *c, uint32_t i)
{
	struct cval *v = &c->vals[i];

	if (v->kind == K_LOCAL)
		return v->idx;
	if (v->kind == K_CONST)
		mat(c, i);
	return S(c, i);
}

/* Branch offset cell relative to itself. */
static void
emit_target(struct wcomp *c, struct cctl *t)
{
	uint32_t here = (uint32_t)c->m->ncode;

	if (t->op == 0x03) {
		cell(c, (uint32_t)((int32_t)t->label_pc - (int32_t)here));
	} else {
		cell(c, t->fixups);
		if (!c->oom)
			t->fixups = here;
	}
}

static void
patch_chain(struct wcomp *c, uint32_t head, uint32_t target)
{
	uint64_t *code = c->m->code;

	while (head != NOFIX) {
		uint32_t next = code[head];

		code[head] = (uint32_t)((int32_t)target - (int32_t)head);
		head = next;
	}
}

/* ---- type stack ---- */

static int
push(struct wcomp *c, uint8_t type, uint8_t kind, uint32_t idx, uint64_t k)
{
	if (c->nvals == c->cvals) {
		uint32_t nc = c->cvals ? c->cvals * 2 : 64;
		struct cval *p;

		if (nc > 1000000u)
			return fail(c, "operand stack too deep");
		p = bt_realloc(c->vals, nc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		c->vals = p;
		c->cvals = nc;
	}
	c->vals[c->nvals].type = type;
	c->vals[c->nvals].kind = kind;
	c->vals[c->nvals].idx = idx;
	c->vals[c->nvals].c = k;
	if (kind != K_SLOT)
		c->nlazy++;
	c->nvals++;
	if (c->nvals > c->max_height)
		c->max_height = c->nvals;
	return 0;
}

static int
push_t(struct wcomp *c, uint8_t type)
{
	return push(c, type, K_SLOT, 0, 0);
}

/* drop_vals takes the top n entries off the value stack, unchecked (they
 * were checked when they were read), keeping the count of lazy ones. */
static void
drop_vals(struct wcomp *c, uint32_t n)
{
	while (n-- > 0) {
		c->nvals--;
		if (c->vals[c->nvals].kind != K_SLOT)
			c->nlazy--;
	}
}

/* Pops one entry, checking it against want (WASM_T_ANY: any type).
 * *out gets the entry (type ANY in unreachable code). */
static int
pop(struct wcomp *c, uint8_t want, struct cval *out)
{
	struct cctl *f = &c->ctls[c->nctls - 1];
	struct cval v;

	if (c->nvals == f->height) {
		if (f->unreachable) {
			memset(&v, 0, sizeof(v));
			v.type = WASM_T_ANY;
			if (out)
				*out = v;
			return 0;
		}
		return fail(c, "type mismatch (operand stack underflow)");
	}
	v = c->vals[--c->nvals];
	if (v.kind != K_SLOT)
		c->nlazy--;
	if (want != WASM_T_ANY && v.type != WASM_T_ANY && v.type != want)
		return fail(c, "type mismatch");
	if (out)
		*out = v;
	return 0;
}

static int
pop_n(struct wcomp *c, const uint8_t *types, uint32_t n)
{
	int rc;

	for (uint32_t i = n; i-- > 0;)
		if ((rc = pop(c, types[i], NULL)) != 0)
			return rc;
	return 0;
}

static int
push_n(struct wcomp *c, const uint8_t *types, uint32_t n)
{
	int rc;

	for (uint32_t i = 0; i < n; i++)
		if ((rc = push_t(c, types[i])) != 0)
			return rc;
	return 0;
}

/* Checks (without popping) that the top n entries match types: for the
 * polymorphic stack, pops then pushes the types back, as the spec does.
 * Lazy entries keep their kind. */
static int
peek_n_ex(struct wcomp *c, const uint8_t *types, uint32_t n, bool fabricate)
{
	struct cctl *f = &c->ctls[c->nctls - 1];
	uint32_t avail = c->nvals - f->height;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t want = types[n - 1 - i];

		if (i >= avail) {
			if (!f->unreachable)
				return fail(c, "type mismatch (operand stack underflow)");
			continue;
		}
		uint8_t have = c->vals[c->nvals - 1 - i].type;
		if (have != WASM_T_ANY && have != want)
			return fail(c, "type mismatch");
	}
	/* In unreachable code, missing entries are materialized as unknown
	 * so later pops see the label's types. */
	if (avail < n && f->unreachable && fabricate) {
		uint32_t miss = n - avail;
		int rc;

		for (uint32_t i = 0; i < miss; i++)
			if ((rc = push_t(c, WASM_T_ANY)) != 0)
				return rc;
		memmove(&c->vals[f->height + miss], &c->vals[f->height],
		    avail * sizeof(*c->vals));
		for (uint32_t i = 0; i < n; i++) {
			struct cval *v = &c->vals[c->nvals - n + i];
			if (i < miss) {
				memset(v, 0, sizeof(*v));
				v->type = types[i];
			}
		}
	}
	return 0;
}

static int
peek_n(struct wcomp *c, const uint8_t *types, uint32_t n)
{
	return peek_n_ex(c, types, n, true);
}

static void
set_unreachable(struct wcomp *c)
{
	struct cctl *f = &c->ctls[c->nctls - 1];

	if (c->nvals > f->height)
		drop_vals(c, c->nvals - f->height);
	f->unreachable = true;
	c->live = false;
	forget(c);
}

static int
push_ctl(struct wcomp *c, uint8_t o, const uint8_t *params, uint32_t np,
    const uint8_t *results, uint32_t nr)
{
	struct cctl *f;

	if (c->nctls == c->cctls) {
		uint32_t nc = c->cctls ? c->cctls * 2 : 16;
		struct cctl *p;

		if (nc > WASM_MAX_BLOCK_DEPTH * 2) {
			bt_diag_set(c->r.diag, (int64_t)c->cur_off,
			    "blocks nested too deeply");
			return BT_ELIMIT;
		}
		p = bt_realloc(c->ctls, nc * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		c->ctls = p;
		c->cctls = nc;
	}
	if (c->nctls > WASM_MAX_BLOCK_DEPTH) {
		bt_diag_set(c->r.diag, (int64_t)c->cur_off,
		    "blocks nested too deeply");
		return BT_ELIMIT;
	}
	f = &c->ctls[c->nctls++];
	memset(f, 0, sizeof(*f));
	f->op = o;
	f->params = params;
	f->nparams = np;
	f->results = results;
	f->nresults = nr;
	f->height = c->nvals - np;
	f->live_entry = c->live;
	f->fixups = NOFIX;
	f->else_cell = NOFIX;
	return 0;
}

/* ---- branches ---- */

static uint32_t
label_arity(const struct cctl *t)
{
	return t->op == 0x03 ? t->nparams : t->nresults;
}

static const uint8_t *
label_types(const struct cctl *t)
{
	return t->op == 0x03 ? t->params : res_of(t);
}

/* Moves the top n values into slots [dst, dst+n), in ascending order
 * (dst <= source slot always, so this never clobbers a pending source;
 * lazy locals below n are read before any of slots 0..n is written when
 * dst is 0: see emit_return). */
static void
emit_label_moves(struct wcomp *c, uint32_t n, uint32_t dst)
{
	for (uint32_t i = 0; i < n; i++)
		emit_val_to(c, c->nvals - n + i, dst + i);
}

static void
emit_return(struct wcomp *c)
{
	uint32_t n = c->ft->nresults;

	/* Results go to slots 0..n in ascending order; a lazy result i that
	 * reads local j < i would see it already overwritten by result j:
	 * materialize such entries first. (j == i needs no move at all.) */
	for (uint32_t i = 0; i < n; i++) {
		struct cval *v = &c->vals[c->nvals - n + i];
		if (v->kind == K_LOCAL && v->idx < i)
			mat(c, c->nvals - n + i);
	}
	emit_label_moves(c, n, 0);
	op(c, OP_RETURN);
}

/*
 * Trick 23: a branch back to a loop whose first instruction is MOVm (the
 * loop-carried variables the head of the loop rotates) does those moves
 * itself, after the moves just before it if any (MOVn, n + m <= 8), and
 * jumps past them: MOV(n+m)_BR. The order of the moves is the order they
 * ran in before; other branches to the loop still run the head's MOVm.
 * The code at the loop's label is final when its back-edges are compiled
 * (fusions only reach back to the last label, and the in-place rewrites
 * are of the last instruction or, after the body, of ops other than
 * MOVm). Returns true if it emitted the branch.
 */
static bool
emit_br_head(struct wcomp *c, struct cctl *t)
{
	static const uint16_t movs[] = { 0, OP_MOV, OP_MOV2, OP_MOV3, OP_MOV4,
		OP_MOV5 };
	static const uint16_t brs[] = { 0, OP_MOV_BR, OP_MOV2_BR, OP_MOV3_BR,
		OP_MOV4_BR, OP_MOV5_BR, OP_MOV6_BR, OP_MOV7_BR, OP_MOV8_BR };
	bt_wasm_module *m = c->m;
	uint64_t mv[16];
	uint32_t n = 0, hm = 0, end = (uint32_t)m->ncode, here, save;

	if (c->oom || t->op != 0x03 || t == &c->ctls[0])
		return false;
	for (uint32_t k = 1; k <= 5; k++)
		if (c->seq_op == movs[k] &&
		    c->seq_start + 2 * k + 1 == m->ncode && m->nmap > 0 &&
		    m->map[m->nmap - 1].pc == c->seq_start) {
			n = k;
			end = c->seq_start;
		}
	if (t->label_pc >= end)
		return false;
	for (uint32_t k = 1; k <= 5; k++)
		if (m->code[t->label_pc] == bt__wasm_handler(movs[k]) &&
		    t->label_pc + 2 * k + 1 <= end)
			hm = k;
	if (hm == 0 || n + hm > 8)
		return false;
	memcpy(mv, m->code + end + 1, 2 * n * sizeof(mv[0]));
	memcpy(mv + 2 * n, m->code + t->label_pc + 1, 2 * hm * sizeof(mv[0]));
	save = c->cur_off;
	if (n > 0) {
		/* in the place of the moves, with their code offset */
		c->cur_off = m->map[m->nmap - 1].off;
		m->ncode = end;
		m->nmap--;
	}
	forget(c);
	op(c, brs[n + hm]);
	c->cur_off = save;
	for (uint32_t i = 0; i < 2 * (n + hm); i++)
		cell(c, mv[i]);
	here = (uint32_t)m->ncode;
	cell(c, (uint32_t)((int32_t)(t->label_pc + 2 * hm + 1) -
			   (int32_t)here));
	forget(c);
	return true;
}

/* Unconditional branch to ctl t, moving the label values. */
static void
emit_br(struct wcomp *c, struct cctl *t)
{
	if (t == &c->ctls[0]) {
		emit_return(c);
		return;
	}
	emit_label_moves(c, label_arity(t), S(c, t->height));
	if (emit_br_head(c, t))
		return;
	if (!c->oom && (c->seq_op == OP_MOV || c->seq_op == OP_MOV2 ||
			   c->seq_op == OP_MOV3 || c->seq_op == OP_MOV4 ||
			   c->seq_op == OP_MOV5) &&
	    c->seq_start + bt__wasm_op_len[c->seq_op] == c->m->ncode) {
		/* Trick 13: the moves just before a br (a loop's carried
		 * variables) and the br are one instruction. */
		int o = c->seq_op == OP_MOV ? OP_MOV_BR :
		    c->seq_op == OP_MOV2    ? OP_MOV2_BR :
		    c->seq_op == OP_MOV3    ? OP_MOV3_BR :
		    c->seq_op == OP_MOV4    ? OP_MOV4_BR :
					      OP_MOV5_BR;

		c->m->code[c->seq_start] = bt__wasm_handler(o);
		forget(c);
		emit_target(c, t);
		return;
	}
	op(c, OP_BR);
	emit_target(c, t);
}

static bool
needs_moves(struct wcomp *c, struct cctl *t)
{
	uint32_t n = label_arity(t);

	if (t == &c->ctls[0])
		return true;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t e = c->nvals - n + i;
		if (c->vals[e].kind != K_SLOT || S(c, e) != S(c, t->height + i))
			return true;
	}
	return false;
}

/* Emits a conditional branch; returns the offset cell for patching (the
 * caller chains or patches it). */
static uint32_t
emit_condbr(struct wcomp *c, const struct cond *k, bool negate)
{
	int o = negate ? bt__wasm_cond_negate(k->op) : k->op;
	uint32_t at;

	op(c, o);
	cell(c, k->a);
	if (o != OP_BR_IF && o != OP_BR_UNLESS)
		cell(c, k->b);
	at = (uint32_t)c->m->ncode;
	cell(c, NOFIX);
	return at;
}


static void
chain_cell(struct wcomp *c, struct cctl *t, uint32_t at)
{
	if (c->oom)
		return;
	if (t->op == 0x03)
		c->m->code[at] = (uint32_t)((int32_t)t->label_pc - (int32_t)at);
	else {
		c->m->code[at] = t->fixups;
		t->fixups = at;
	}
}


/* ---- block types and immediates ---- */

static int
rd_blocktype(struct wcomp *c, struct cctl *tmp)
{
	struct rd *r = &c->r;
	uint8_t b;
	int64_t idx;
	int rc;

	tmp->single = 0;
	if (r->p >= r->end)
		return rd_fail(r, r->p, BT_ECORRUPT, "unexpected end");
	b = *r->p;
	tmp->nparams = 0;
	tmp->nresults = 0;
	tmp->params = NULL;
	tmp->results = NULL;
	if (b == 0x40) {
		r->p++;
		return 0;
	}
	if (b == BT_WASM_I32 || b == BT_WASM_I64 || b == BT_WASM_F32 ||
	    b == BT_WASM_F64 || b == BT_WASM_FUNCREF || b == BT_WASM_EXTERNREF) {
		r->p++;
		tmp->single = b;
		tmp->nresults = 1;
		return 0;
	}
	if (b == 0x7b)
		return rd_fail(r, r->p, BT_EUNSUPPORTED,
		    "unsupported feature: v128 (SIMD)");
	if ((rc = rd_sleb(r, 33, &idx)) != 0)
		return rc;
	if (idx < 0)
		return fail(c, "malformed block type");
	if ((uint64_t)idx >= c->m->ntypes)
		return fail(c, "unknown type");
	const struct wfunctype *t = &c->m->types[idx];
	tmp->params = ft_params(t);
	tmp->nparams = t->nparams;
	tmp->results = ft_results(t);
	tmp->nresults = t->nresults;
	return 0;
}

static int
rd_memarg(struct wcomp *c, uint32_t natural, uint32_t *off)
{
	uint32_t align;
	int rc;

	if ((rc = rd_u32(&c->r, &align)) != 0)
		return rc;
	if (align & 0x40)
		return fail(c, "unsupported feature: multiple memories");
	if ((rc = rd_u32(&c->r, off)) != 0)
		return rc;
	if (c->m->nmems == 0)
		return fail(c, "unknown memory 0");
	if (align >= 32 || (1u << align) > natural)
		return fail(c, "alignment must not be larger than natural");
	return 0;
}

static int
rd_zero(struct wcomp *c)
{
	uint8_t b;
	int rc;

	if ((rc = rd_u8(&c->r, &b)) != 0)
		return rc;
	if (b != 0)
		return fail(c, "zero byte expected");
	return 0;
}

/* ---- numeric instructions ---- */

enum { N_UN, N_BIN, N_NOP };

struct numop {
	uint16_t op;   /* threaded op */
	uint16_t iop;  /* immediate form, or 0 */
	uint8_t	 kind; /* N_UN, N_BIN, N_NOP (type change only) */
	uint8_t	 in;
	uint8_t	 out;
};

#define I32 BT_WASM_I32
#define I64 BT_WASM_I64
#define F32 BT_WASM_F32
#define F64 BT_WASM_F64

static struct numop numops[256];

/* The tables, filled once (pthread_once: modules may be compiled on
 * several threads at once, and fuse.c's handler-to-op table is sorted in
 * place while it is filled). */
static pthread_once_t numops_once = PTHREAD_ONCE_INIT;

static void
numops_fill(void)
{
	struct numop *n = numops;

	bt__wasm_fuse_init();
#define B(code, o, t, r) n[code] = (struct numop){ OP_##o, 0, N_BIN, t, r }
#define BI(code, o, t, r) n[code] = (struct numop){ OP_##o, OP_##o##_I, N_BIN, t, r }
#define U(code, o, t, r) n[code] = (struct numop){ OP_##o, 0, N_UN, t, r }
#define NP(code, t, r) n[code] = (struct numop){ 0, 0, N_NOP, t, r }
	U(0x45, I32_EQZ, I32, I32);
	BI(0x46, I32_EQ, I32, I32); BI(0x47, I32_NE, I32, I32);
	BI(0x48, I32_LT_S, I32, I32); BI(0x49, I32_LT_U, I32, I32);
	BI(0x4a, I32_GT_S, I32, I32); BI(0x4b, I32_GT_U, I32, I32);
	BI(0x4c, I32_LE_S, I32, I32); BI(0x4d, I32_LE_U, I32, I32);
	BI(0x4e, I32_GE_S, I32, I32); BI(0x4f, I32_GE_U, I32, I32);
	U(0x50, I64_EQZ, I64, I32);
	BI(0x51, I64_EQ, I64, I32); BI(0x52, I64_NE, I64, I32);
	BI(0x53, I64_LT_S, I64, I32); BI(0x54, I64_LT_U, I64, I32);
	BI(0x55, I64_GT_S, I64, I32); BI(0x56, I64_GT_U, I64, I32);
	BI(0x57, I64_LE_S, I64, I32); BI(0x58, I64_LE_U, I64, I32);
	BI(0x59, I64_GE_S, I64, I32); BI(0x5a, I64_GE_U, I64, I32);
	B(0x5b, F32_EQ, F32, I32); B(0x5c, F32_NE, F32, I32);
	B(0x5d, F32_LT, F32, I32); B(0x5e, F32_GT, F32, I32);
	B(0x5f, F32_LE, F32, I32); B(0x60, F32_GE, F32, I32);
	B(0x61, F64_EQ, F64, I32); B(0x62, F64_NE, F64, I32);
	B(0x63, F64_LT, F64, I32); B(0x64, F64_GT, F64, I32);
	B(0x65, F64_LE, F64, I32); B(0x66, F64_GE, F64, I32);
	U(0x67, I32_CLZ, I32, I32); U(0x68, I32_CTZ, I32, I32);
	U(0x69, I32_POPCNT, I32, I32);
	BI(0x6a, I32_ADD, I32, I32); BI(0x6b, I32_SUB, I32, I32);
	BI(0x6c, I32_MUL, I32, I32);
	B(0x6d, I32_DIV_S, I32, I32); B(0x6e, I32_DIV_U, I32, I32);
	B(0x6f, I32_REM_S, I32, I32); B(0x70, I32_REM_U, I32, I32);
	BI(0x71, I32_AND, I32, I32); BI(0x72, I32_OR, I32, I32);
	BI(0x73, I32_XOR, I32, I32); BI(0x74, I32_SHL, I32, I32);
	BI(0x75, I32_SHR_S, I32, I32); BI(0x76, I32_SHR_U, I32, I32);
	BI(0x77, I32_ROTL, I32, I32); BI(0x78, I32_ROTR, I32, I32);
	U(0x79, I64_CLZ, I64, I64); U(0x7a, I64_CTZ, I64, I64);
	U(0x7b, I64_POPCNT, I64, I64);
	BI(0x7c, I64_ADD, I64, I64); BI(0x7d, I64_SUB, I64, I64);
	BI(0x7e, I64_MUL, I64, I64);
	B(0x7f, I64_DIV_S, I64, I64); B(0x80, I64_DIV_U, I64, I64);
	B(0x81, I64_REM_S, I64, I64); B(0x82, I64_REM_U, I64, I64);
	BI(0x83, I64_AND, I64, I64); BI(0x84, I64_OR, I64, I64);
	BI(0x85, I64_XOR, I64, I64); BI(0x86, I64_SHL, I64, I64);
	BI(0x87, I64_SHR_S, I64, I64); BI(0x88, I64_SHR_U, I64, I64);
	BI(0x89, I64_ROTL, I64, I64); BI(0x8a, I64_ROTR, I64, I64);
	U(0x8b, F32_ABS, F32, F32); U(0x8c, F32_NEG, F32, F32);
	U(0x8d, F32_CEIL, F32, F32); U(0x8e, F32_FLOOR, F32, F32);
	U(0x8f, F32_TRUNC, F32, F32); U(0x90, F32_NEAREST, F32, F32);
	U(0x91, F32_SQRT, F32, F32);
	BI(0x92, F32_ADD, F32, F32); BI(0x93, F32_SUB, F32, F32);
	BI(0x94, F32_MUL, F32, F32); BI(0x95, F32_DIV, F32, F32);
	B(0x96, F32_MIN, F32, F32); B(0x97, F32_MAX, F32, F32);
	B(0x98, F32_COPYSIGN, F32, F32);
	U(0x99, F64_ABS, F64, F64); U(0x9a, F64_NEG, F64, F64);
	U(0x9b, F64_CEIL, F64, F64); U(0x9c, F64_FLOOR, F64, F64);
	U(0x9d, F64_TRUNC, F64, F64); U(0x9e, F64_NEAREST, F64, F64);
	U(0x9f, F64_SQRT, F64, F64);
	BI(0xa0, F64_ADD, F64, F64); BI(0xa1, F64_SUB, F64, F64);
	BI(0xa2, F64_MUL, F64, F64); BI(0xa3, F64_DIV, F64, F64);
	B(0xa4, F64_MIN, F64, F64); B(0xa5, F64_MAX, F64, F64);
	B(0xa6, F64_COPYSIGN, F64, F64);
	U(0xa7, I32_WRAP_I64, I64, I32);
	U(0xa8, I32_TRUNC_F32_S, F32, I32); U(0xa9, I32_TRUNC_F32_U, F32, I32);
	U(0xaa, I32_TRUNC_F64_S, F64, I32); U(0xab, I32_TRUNC_F64_U, F64, I32);
	U(0xac, I64_EXTEND_I32_S, I32, I64); NP(0xad, I32, I64);
	U(0xae, I64_TRUNC_F32_S, F32, I64); U(0xaf, I64_TRUNC_F32_U, F32, I64);
	U(0xb0, I64_TRUNC_F64_S, F64, I64); U(0xb1, I64_TRUNC_F64_U, F64, I64);
	U(0xb2, F32_CONVERT_I32_S, I32, F32); U(0xb3, F32_CONVERT_I32_U, I32, F32);
	U(0xb4, F32_CONVERT_I64_S, I64, F32); U(0xb5, F32_CONVERT_I64_U, I64, F32);
	U(0xb6, F32_DEMOTE_F64, F64, F32);
	U(0xb7, F64_CONVERT_I32_S, I32, F64); U(0xb8, F64_CONVERT_I32_U, I32, F64);
	U(0xb9, F64_CONVERT_I64_S, I64, F64); U(0xba, F64_CONVERT_I64_U, I64, F64);
	U(0xbb, F64_PROMOTE_F32, F32, F64);
	NP(0xbc, F32, I32); NP(0xbd, F64, I64); NP(0xbe, I32, F32); NP(0xbf, I64, F64);
	U(0xc0, I32_EXTEND8_S, I32, I32); U(0xc1, I32_EXTEND16_S, I32, I32);
	U(0xc2, I64_EXTEND8_S, I64, I64); U(0xc3, I64_EXTEND16_S, I64, I64);
	U(0xc4, I64_EXTEND32_S, I64, I64);
#undef B
#undef BI
#undef U
#undef NP
}

static void
numops_init(void)
{
	pthread_once(&numops_once, numops_fill);
}

static const uint16_t sat_ops[8] = {
	OP_I32_TRUNC_SAT_F32_S, OP_I32_TRUNC_SAT_F32_U, OP_I32_TRUNC_SAT_F64_S,
	OP_I32_TRUNC_SAT_F64_U, OP_I64_TRUNC_SAT_F32_S, OP_I64_TRUNC_SAT_F32_U,
	OP_I64_TRUNC_SAT_F64_S, OP_I64_TRUNC_SAT_F64_U,
};
static const uint8_t sat_in[8] = { F32, F32, F64, F64, F32, F32, F64, F64 };
static const uint8_t sat_out[8] = { I32, I32, I32, I32, I64, I64, I64, I64 };


static int
do_unop(struct wcomp *c, int o, uint8_t in, uint8_t out)
{
	struct cval a;
	uint32_t h;
	int rc;

	if ((rc = pop(c, in, &a)) != 0)
		return rc;
	h = c->nvals;
	if (c->live) {
		c->nvals++; /* keep the entry addressable for rslot */
		c->vals[h] = a;
		if (a.kind != K_SLOT)
			c->nlazy++;
		uint32_t sa = rslot(c, h);
		c->nvals--;
		if (c->vals[h].kind != K_SLOT)
			c->nlazy--;
		op(c, bt__wasm_acc_variant(c, o, h, 0));
		cell(c, S(c, h));
		produced(c, h);
		cell(c, sa);
	}
	return push_t(c, out);
}

static int
do_binop(struct wcomp *c, const struct numop *n)
{
	struct cval a, b;
	uint32_t h;
	int rc;

	if ((rc = pop(c, n->in, &b)) != 0)
		return rc;
	if ((rc = pop(c, n->in, &a)) != 0)
		return rc;
	h = c->nvals;
	if (c->live) {
		uint32_t sa, sb = 0;
		bool imm = false, fbits = false;
		int64_t k = 0;
		struct ldfuse lf;
		uint32_t shk, mulb;
		int fused;

		/* Put both back so rslot can materialize in place. */
		c->vals[h] = a;
		c->vals[h + 1] = b;
		c->nvals += 2;
		c->nlazy += (a.kind != K_SLOT) + (b.kind != K_SLOT);
		if (n->iop && b.kind == K_CONST) {
			k = n->in == I32 ? (int64_t)(int32_t)(uint32_t)b.c :
					   (int64_t)b.c;
			imm = k >= INT32_MIN && k <= INT32_MAX;
			if (n->in == F32 || n->in == F64) {
				/* the constant's bits, whole, in the cell */
				imm = true;
				fbits = true;
			}
		}
		sa = rslot(c, h);
		if (!imm)
			sb = rslot(c, h + 1);
		int o = imm ? n->iop : n->op;
		if (o == OP_I32_ROTR_I) {
			/* one form for the fusions: rotr k is rotl 32 - k */
			o = OP_I32_ROTL_I;
			k = (32 - (k & 31)) & 31;
		}
		if (o == OP_I32_ADD && bt__wasm_fuse_shl(c, h, &sa, &sb, &shk)) {
			drop_vals(c, 2);
			op(c, OP_I32_ADD_SHL);
			cell(c, S(c, h));
			produced(c, h);
			cell(c, sa);
			cell(c, sb);
			cell(c, shk);
			return push_t(c, n->out);
		}
		if (o == OP_I32_ADD && bt__wasm_fuse_add(c, h, &sa, &sb, &mulb)) {
			uint32_t ap, aq;
			int rop = c->prev_seq_op;
			uint32_t rat = c->prev_seq_start;
			bool and3 = bt__wasm_fuse_add3_and(c, mulb, &ap, &aq);
			uint64_t r3[4];
			bool rot = false;

			/* trick 26: the rotations before the and, into sb
			 * (or sa), computed by the sum */
			if (and3 && ap != sb && aq != sb && sa != sb &&
			    bt__wasm_take_rot3x(c, rop, rat, sb, r3)) {
				rot = true;
			} else if (and3 && ap != sa && aq != sa && sa != sb &&
			    bt__wasm_take_rot3x(c, rop, rat, sa, r3)) {
				rot = true;
				sa = sb;
			}
			drop_vals(c, 2);
			if (rot) {
				op(c, OP_I32_ROT3X_ADD3_AND);
				cell(c, S(c, h));
				produced(c, h);
				cell(c, sa);
				for (int i = 0; i < 4; i++)
					cell(c, r3[i]);
				cell(c, ap);
				cell(c, aq);
				return push_t(c, n->out);
			}
			op(c, and3 ? OP_I32_ADD3_AND : OP_I32_ADD3);
			cell(c, S(c, h));
			produced(c, h);
			cell(c, sa);
			cell(c, sb);
			if (and3) {
				cell(c, ap);
				cell(c, aq);
			} else {
				cell(c, mulb);
			}
			return push_t(c, n->out);
		}
		if (o == OP_I32_ADD && bt__wasm_fuse_mac(c, h, sa, sb)) {
			drop_vals(c, 2);
			return push_t(c, n->out);
		}
		if ((o == OP_F64_ADD || o == OP_F64_SUB) &&
		    bt__wasm_fuse_mul(c, h, o, &sa, &sb, &mulb, &fused)) {
			drop_vals(c, 2);
			op(c, fused);
			cell(c, S(c, h));
			produced(c, h);
			cell(c, sa);
			cell(c, sb);
			cell(c, mulb);
			return push_t(c, n->out);
		}
		if (!imm && bt__wasm_fuse_load(c, h + 1, o, &lf)) {
			drop_vals(c, 2);
			uint32_t save = c->cur_off;
			const struct cval *va_ = &c->vals[h];
			bool a_acc = va_->kind != K_CONST && lf.acc_slot != NOFIX &&
			    (va_->kind == K_LOCAL ? va_->idx : S(c, h)) ==
				lf.acc_slot;
			/* the _A forms are listed in ops.h in the order of
			 * the plain ones */
			_Static_assert(OP_F64_DIV_M_A - OP_F64_DIV_M ==
				OP_I32_ADD_M_A - OP_I32_ADD_M,
			    "ops.h: memory-operand _A forms out of order");
			int mm = lf.op == OP_I32_MUL_M ? OP_I32_MUL_MM :
			    lf.op == OP_I32_MUL_M16S ? OP_I32_MUL_MM16S :
			    lf.op == OP_F64_MUL_M ? OP_F64_MUL_MM : -1;
			struct ldfuse la;

			if (mm >= 0 && va_->kind == K_SLOT &&
			    bt__wasm_fuse_load_a(c, lf.ld, S(c, h), &la)) {
				c->cur_off = la.off_map;
				op(c, mm);
				c->cur_off = save;
				cell(c, S(c, h));
				produced(c, h);
				cell(c, la.base);
				cell(c, la.imm);
				cell(c, la.off);
				map_add(c, (uint32_t)c->m->ncode, lf.off_map);
				cell(c, lf.base);
				cell(c, lf.imm);
				cell(c, lf.off);
				return push_t(c, n->out);
			}
			c->cur_off = lf.off_map;
			op(c, a_acc ? lf.op + (OP_I32_ADD_M_A - OP_I32_ADD_M) :
				      lf.op);
			c->cur_off = save;
			cell(c, S(c, h));
			produced(c, h);
			cell(c, sa);
			cell(c, lf.base);
			cell(c, lf.imm);
			cell(c, lf.off);
			return push_t(c, n->out);
		}
		if (o == OP_I32_ADD && bt__wasm_fuse_addf(c, h, sa, sb)) {
			drop_vals(c, 2);
			return push_t(c, n->out);
		}
		int va = bt__wasm_acc_variant(c, o, h, 0);
		if (va == o && !imm)
			va = bt__wasm_acc_variant(c, o, h + 1, 1);
		drop_vals(c, 2);
		if (!imm && (bt__wasm_fuse_bits(c, h, va, sa, sb) ||
				bt__wasm_fuse_addc(c, h, va, sa, sb)))
			return push_t(c, n->out);
		if (va == OP_I32_ADD && bt__wasm_fuse_add2(c, h, sa, sb))
			return push_t(c, n->out);
		op(c, va);
		cell(c, S(c, h));
		produced(c, h);
		cell(c, sa);
		cell(c, fbits ? b.c : imm ? (uint32_t)(int32_t)k : sb);
	}
	return push_t(c, n->out);
}

/* ---- the body ---- */

static int
rd_locals(struct wcomp *c)
{
	const struct wfunctype *ft = c->ft;
	uint32_t ngroups;
	uint64_t total = ft->nparams;
	const uint8_t *save;
	int rc;

	if ((rc = rd_u32(&c->r, &ngroups)) != 0)
		return rc;
	save = c->r.p;
	for (uint32_t i = 0; i < ngroups; i++) {
		uint32_t cnt;
		uint8_t t;

		if ((rc = rd_u32(&c->r, &cnt)) != 0)
			return rc;
		if ((rc = rd_valtype(&c->r, &t)) != 0)
			return rc;
		total += cnt;
		if (total > UINT32_MAX)
			return rd_fail(&c->r, c->r.p, BT_ECORRUPT, "too many locals");
	}
	if (total > WASM_MAX_LOCALS)
		return rd_fail(&c->r, save, BT_ELIMIT,
		    "too many locals for this engine");
	c->nlocals = (uint32_t)total;
	c->ltypes = bt_alloc(total ? total : 1);
	if (c->ltypes == NULL)
		return -ENOMEM;
	memcpy(c->ltypes, ft_params(ft), ft->nparams);
	c->r.p = save;
	total = ft->nparams;
	for (uint32_t i = 0; i < ngroups; i++) {
		uint32_t cnt;
		uint8_t t;

		cnt = 0;
		t = 0;
		(void)rd_u32(&c->r, &cnt);
		(void)rd_valtype(&c->r, &t);
		memset(c->ltypes + total, t, cnt);
		total += cnt;
	}
	return 0;
}

static int
body(struct wcomp *c)
{
	bt_wasm_module *m = c->m;
	struct rd *r = &c->r;
	int rc;

	for (;;) {
		uint8_t b;
		struct cval v, w;
		uint32_t x = 0, y = 0, h;

		if (c->oom)
			return -ENOMEM;
		c->cur_off = (uint32_t)(r->p - r->base);
		if ((rc = rd_u8(r, &b)) != 0)
			return rc;
		switch (b) {
		case 0x00: /* unreachable */
			if (c->live)
				op(c, OP_UNREACHABLE);
			set_unreachable(c);
			break;
		case 0x01: /* nop */
			break;
		case 0x02: /* block */
		case 0x03: /* loop */
		case 0x04: { /* if */
			struct cctl t;
			struct cond k = { 0 };

			if ((rc = rd_blocktype(c, &t)) != 0)
				return rc;
			if (b == 0x04) {
				if ((rc = pop(c, I32, &v)) != 0)
					return rc;
				if (c->live)
					bt__wasm_fuse_cond(c, &v, c->nvals, &k);
			}
			if ((rc = peek_n(c, t.params, t.nparams)) != 0)
				return rc;
			if (c->live)
				flush(c);
			label_here(c);
			if ((rc = push_ctl(c, b, t.params, t.nparams, t.results,
				 t.nresults)) != 0)
				return rc;
			struct cctl *f = &c->ctls[c->nctls - 1];
			if (t.nresults == 1 && t.results == NULL)
				f->single = t.single;
			f->label_pc = (uint32_t)m->ncode;
			if (b == 0x04 && c->live)
				f->else_cell = emit_condbr(c, &k, true);
			break;
		}
		case 0x05: { /* else */
			struct cctl *f = &c->ctls[c->nctls - 1];

			if (f->op != 0x04)
				return fail(c, "else without if");
			if (c->live) {
				for (uint32_t i = 0; i < f->nresults &&
				     f->height + i < c->nvals; i++)
					mat(c, f->height + i);
			}
			if ((rc = pop_n(c, res_of(f), f->nresults)) != 0)
				return rc;
			if (c->nvals != f->height)
				return fail(c, "type mismatch (values left at else)");
			if (c->live) {
				op(c, OP_BR);
				emit_target(c, f);
			}
			if (f->else_cell != NOFIX && !c->oom)
				m->code[f->else_cell] = (uint32_t)(
				    (int32_t)m->ncode - (int32_t)f->else_cell);
			f->else_cell = NOFIX;
			f->op = 0x05;
			f->unreachable = false;
			c->live = f->live_entry;
			label_here(c);
			if ((rc = push_n(c, f->params, f->nparams)) != 0)
				return rc;
			break;
		}
		case 0x0b: { /* end */
			struct cctl *f = &c->ctls[c->nctls - 1];

			if (f->op == 0x04 && (f->nparams != f->nresults ||
			    (f->nparams > 0 &&
				memcmp(f->params, res_of(f), f->nparams) != 0)))
				return fail(c, "type mismatch (if without else)");
			if (c->nctls == 1) {
				/* Function end: check the results, return. */
				if (c->live) {
					if ((rc = peek_n(c, res_of(f),
						 f->nresults)) != 0)
						return rc;
					if (c->nvals != f->nresults)
						return fail(c, "type mismatch (values left at end)");
					emit_return(c);
				}
				if ((rc = pop_n(c, res_of(f), f->nresults)) != 0)
					return rc;
				if (c->nvals != f->height)
					return fail(c, "type mismatch (values left at end)");
				c->nctls = 0;
				if (r->p != r->end)
					return fail(c, "section size mismatch (junk after function end)");
				return 0;
			}
			if (c->live) {
				if ((rc = peek_n(c, res_of(f), f->nresults)) != 0)
					return rc;
				for (uint32_t i = 0; i < f->nresults &&
				     f->height + i < c->nvals; i++)
					mat(c, f->height + i);
			}
			if ((rc = pop_n(c, res_of(f), f->nresults)) != 0)
				return rc;
			if (c->nvals != f->height)
				return fail(c, "type mismatch (values left at end)");
			if (!c->oom) {
				if (f->else_cell != NOFIX)
					m->code[f->else_cell] = (uint32_t)(
					    (int32_t)m->ncode - (int32_t)f->else_cell);
				if (f->op != 0x03)
					patch_chain(c, f->fixups, (uint32_t)m->ncode);
			}
			c->live = f->live_entry;
			c->nctls--;
			label_here(c);
			if ((rc = push_n(c, res_of(f), f->nresults)) != 0)
				return rc;
			break;
		}
		case 0x0c: /* br */
		case 0x0d: { /* br_if */
			struct cctl *t;
			struct cond k;

			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= c->nctls)
				return fail(c, "unknown label");
			t = &c->ctls[c->nctls - 1 - x];
			if (b == 0x0c) {
				if ((rc = peek_n(c, label_types(t),
					 label_arity(t))) != 0)
					return rc;
				if (c->live)
					emit_br(c, t);
				set_unreachable(c);
				break;
			}
			if ((rc = pop(c, I32, &v)) != 0)
				return rc;
			if ((rc = peek_n(c, label_types(t), label_arity(t))) != 0)
				return rc;
			if (c->live) {
				bt__wasm_fuse_cond(c, &v, c->nvals, &k);
				if (!needs_moves(c, t)) {
					uint32_t at;

					at = bt__wasm_fuse_inc_branch(c, &k);
					if (at == NOFIX)
						at = emit_condbr(c, &k, false);
					chain_cell(c, t, at);
				} else {
					uint32_t skip = emit_condbr(c, &k, true);
					emit_br(c, t);
					if (!c->oom)
						m->code[skip] = (uint32_t)(
						    (int32_t)m->ncode - (int32_t)skip);
				}
				label_here(c);
			}
			/* br_if leaves the label types on the stack. */
			{
				uint32_t n = label_arity(t);
				const uint8_t *ty = label_types(t);
				for (uint32_t i = 0; i < n; i++) {
					struct cval *e = &c->vals[c->nvals - n + i];
					if (e->type == WASM_T_ANY)
						e->type = ty[i];
				}
			}
			break;
		}
		case 0x0e: { /* br_table */
			uint32_t n, *lbl;
			const uint8_t *tys = NULL;
			uint32_t arity = 0;

			if ((rc = rd_count(r, WASM_MAX_BR_TABLE, &n)) != 0)
				return rc;
			lbl = bt_calloc((size_t)n + 1, sizeof(uint32_t));
			if (lbl == NULL)
				return -ENOMEM;
			for (uint32_t i = 0; i <= n; i++) {
				if ((rc = rd_u32(r, &lbl[i])) != 0)
					goto bt_out;
				if (lbl[i] >= c->nctls) {
					rc = fail(c, "unknown label");
					goto bt_out;
				}
			}
			if ((rc = pop(c, I32, &v)) != 0)
				goto bt_out;
			h = c->nvals;
			{
				struct cctl *d = &c->ctls[c->nctls - 1 - lbl[n]];
				arity = label_arity(d);
				tys = label_types(d);
			}
			for (uint32_t i = 0; i <= n; i++) {
				struct cctl *t = &c->ctls[c->nctls - 1 - lbl[i]];
				if (label_arity(t) != arity) {
					rc = fail(c, "type mismatch (br_table arity)");
					goto bt_out;
				}
				if ((rc = peek_n_ex(c, label_types(t), arity,
					 false)) != 0)
					goto bt_out;
			}
			(void)tys;
			if (c->live) {
				uint32_t sidx, base;

				if (v.kind == K_LOCAL)
					sidx = v.idx;
				else {
					if (v.kind == K_CONST)
						emit_const(c, S(c, h), v.c);
					sidx = S(c, h);
				}
				op(c, OP_BR_TABLE);
				cell(c, sidx);
				cell(c, n);
				base = (uint32_t)m->ncode;
				for (uint32_t i = 0; i <= n; i++)
					cell(c, NOFIX);
				for (uint32_t i = 0; i <= n && !c->oom; i++) {
					struct cctl *t =
					    &c->ctls[c->nctls - 1 - lbl[i]];
					uint32_t at = base + i;

					if (!needs_moves(c, t)) {
						chain_cell(c, t, at);
						continue;
					}
					/* Branch to a trampoline that moves the values. */
					m->code[at] = (uint32_t)((int32_t)m->ncode -
					    (int32_t)at);
					emit_br(c, t);
				}
			}
			set_unreachable(c);
			rc = 0;
bt_out:
			bt_free(lbl);
			if (rc != 0)
				return rc;
			break;
		}
		case 0x0f: /* return */
			if ((rc = peek_n(c, ft_results(c->ft), c->ft->nresults)) != 0)
				return rc;
			if (c->live)
				emit_return(c);
			set_unreachable(c);
			break;
		case 0x10: { /* call */
			const struct wfunctype *t;

			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= m->nfuncs)
				return fail(c, "unknown function");
			t = &m->types[m->func_type[x]];
			if ((rc = peek_n(c, ft_params(t), t->nparams)) != 0)
				return rc;
			h = c->nvals - t->nparams;
			if (c->live) {
				for (uint32_t i = 0; i < t->nparams; i++)
					mat(c, h + i);
				if (x >= m->nfunc_imports && t->nparams > 0 &&
				    c->last_base == OP_I32_ADD_I &&
				    c->last_dst != NOFIX &&
				    c->last_h == c->nvals - 1 &&
				    c->vals[c->nvals - 1].kind == K_SLOT &&
				    !c->oom) {
					/* Trick 15: the last argument computed
					 * as x + k just before a direct call
					 * (f(n - 1)) is computed by the call. */
					const uint64_t *ins = m->code + c->last_start;
					uint32_t d = (uint32_t)ins[1];
					uint32_t a = (uint32_t)ins[2];
					uint32_t k = (uint32_t)ins[3];

					unemit_last(c);
					op(c, OP_CALL_D_ADDI);
					cell(c, (uint64_t)x *
					    sizeof(bt_wasm_func));
					cell(c, S(c, h));
					cell(c, d);
					cell(c, a);
					cell(c, k);
					cell(c, 0); /* bt__wasm_fuse_calls */
					cell(c, 0);
				} else {
					/* CALL_D takes the callee's byte
					 * offset in the instance's fobj;
					 * bt__wasm_fuse_calls fills in where
					 * its code is and its frame's end */
					bool d = x >= m->nfunc_imports;

					op(c, d ? OP_CALL_D : OP_CALL);
					cell(c, d ? (uint64_t)x *
						sizeof(bt_wasm_func) : x);
					cell(c, S(c, h));
					if (d) {
						cell(c, 0);
						cell(c, 0);
					}
				}
			}
			if ((rc = pop_n(c, ft_params(t), t->nparams)) != 0)
				return rc;
			if ((rc = push_n(c, ft_results(t), t->nresults)) != 0)
				return rc;
			break;
		}
		case 0x11: { /* call_indirect */
			const struct wfunctype *t;

			if ((rc = rd_u32(r, &y)) != 0)
				return rc;
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (y >= m->ntypes)
				return fail(c, "unknown type");
			if (x >= m->ntables)
				return fail(c, "unknown table");
			if (m->tables[x].elem != BT_WASM_FUNCREF)
				return fail(c, "type mismatch (call_indirect on externref table)");
			t = &m->types[y];
			if ((rc = pop(c, I32, &v)) != 0)
				return rc;
			if ((rc = peek_n(c, ft_params(t), t->nparams)) != 0)
				return rc;
			h = c->nvals - t->nparams;
			if (c->live) {
				uint32_t si;

				for (uint32_t i = 0; i < t->nparams; i++)
					mat(c, h + i);
				if (v.kind == K_LOCAL)
					si = v.idx;
				else {
					if (v.kind == K_CONST)
						emit_const(c, S(c, c->nvals), v.c);
					si = S(c, c->nvals);
				}
				op(c, OP_CALL_INDIRECT);
				cell(c, y);
				cell(c, x);
				cell(c, S(c, h));
				cell(c, si);
			}
			if ((rc = pop_n(c, ft_params(t), t->nparams)) != 0)
				return rc;
			if ((rc = push_n(c, ft_results(t), t->nresults)) != 0)
				return rc;
			break;
		}
		case 0x1a: /* drop */
			if ((rc = pop(c, WASM_T_ANY, NULL)) != 0)
				return rc;
			break;
		case 0x1b:   /* select */
		case 0x1c: { /* select t */
			uint8_t t = WASM_T_ANY;
			struct cval cv;

			if (b == 0x1c) {
				uint32_t n;
				if ((rc = rd_u32(r, &n)) != 0)
					return rc;
				if (n != 1)
					return fail(c, "invalid result arity");
				if ((rc = rd_valtype(r, &t)) != 0)
					return rc;
			}
			if ((rc = pop(c, I32, &cv)) != 0)
				return rc;
			if ((rc = pop(c, t, &w)) != 0)
				return rc;
			if ((rc = pop(c, t, &v)) != 0)
				return rc;
			if (b == 0x1b) {
				if (v.type != WASM_T_ANY && w.type != WASM_T_ANY &&
				    v.type != w.type)
					return fail(c, "type mismatch");
				t = v.type != WASM_T_ANY ? v.type : w.type;
				if (t == BT_WASM_FUNCREF || t == BT_WASM_EXTERNREF)
					return fail(c, "type mismatch (select of references needs a type)");
			}
			h = c->nvals;
			if (c->live) {
				uint32_t sa, sb, sc;

				c->vals[h] = v;
				c->vals[h + 1] = w;
				c->vals[h + 2] = cv;
				c->nvals += 3;
				c->nlazy += (v.kind != K_SLOT) + (w.kind != K_SLOT) +
				    (cv.kind != K_SLOT);
				sa = rslot(c, h);
				sb = rslot(c, h + 1);
				sc = rslot(c, h + 2);
				drop_vals(c, 3);
				int so = OP_SELECT;
				uint32_t p = 0, q = 0;
				/* Trick 12: the i32 compare just emitted that
				 * computed the condition runs inside the select
				 * (it still writes the condition's slot). */
				if (!c->oom && c->seq_op >= OP_I32_EQ &&
				    c->seq_op <= OP_I32_GE_U && m->nmap > 0 &&
				    c->seq_start + 4 == m->ncode &&
				    m->map[m->nmap - 1].pc == c->seq_start &&
				    m->code[c->seq_start + 1] == sc) {
					const uint64_t *ins = m->code + c->seq_start;

					_Static_assert(OP_I32_GE_U - OP_I32_EQ ==
						OP_SEL_I32_GE_U - OP_SEL_I32_EQ,
					    "ops.h: SEL_I32_xx out of order");
					so = OP_SEL_I32_EQ + (c->seq_op - OP_I32_EQ);
					p = (uint32_t)ins[2];
					q = (uint32_t)ins[3];
					m->ncode = c->seq_start;
					m->nmap--;
					forget(c);
				}
				op(c, so);
				cell(c, S(c, h));
				produced(c, h);
				cell(c, sa);
				cell(c, sb);
				cell(c, sc);
				if (so != OP_SELECT) {
					cell(c, p);
					cell(c, q);
				}
			}
			if ((rc = push_t(c, t)) != 0)
				return rc;
			break;
		}
		case 0x20: /* local.get */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= c->nlocals)
				return fail(c, "unknown local");
			if ((rc = push(c, c->ltypes[x], c->live ? K_LOCAL : K_SLOT,
				 x, 0)) != 0)
				return rc;
			break;
		case 0x21: /* local.set */
		case 0x22: /* local.tee */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= c->nlocals)
				return fail(c, "unknown local");
			if ((rc = pop(c, c->ltypes[x], &v)) != 0)
				return rc;
			h = c->nvals;
			if (c->live) {
				bool aliased = false;

				for (uint32_t i = 0; i < h && c->nlazy > 0; i++)
					if (c->vals[i].kind == K_LOCAL &&
					    c->vals[i].idx == x) {
						aliased = true;
						break;
					}
				if (!aliased && v.kind == K_SLOT &&
				    c->last_dst != NOFIX && c->last_h == h &&
				    !c->oom) {
					int so = c->seq_op;
					int po = c->prev_seq_op;
					int p2 = c->prev2_seq_op;
					int p3 = c->prev3_seq_op;

					m->code[c->last_dst] = x;
					forget(c);
					/* acc holds the local now; the
					 * instructions are still whole */
					c->acc_slot = x;
					c->seq_op = so;
					c->prev_seq_op = po;
					c->prev2_seq_op = p2;
					c->prev3_seq_op = p3;
				} else {
					if (aliased)
						for (uint32_t i = 0; i < h; i++)
							if (c->vals[i].kind == K_LOCAL &&
							    c->vals[i].idx == x)
								mat(c, i);
					if (v.kind == K_CONST)
						emit_const(c, x, v.c);
					else if (v.kind == K_LOCAL)
						emit_mov(c, x, v.idx);
					else
						emit_mov(c, x, S(c, h));
					/* Not forget: a following move may merge
					 * with this one (trick 5). */
					c->last_dst = NOFIX;
				}
			}
			if (b == 0x22 &&
			    (rc = push(c, c->ltypes[x], c->live ? K_LOCAL : K_SLOT,
				 x, 0)) != 0)
				return rc;
			break;
		case 0x23: /* global.get */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= m->nglobals)
				return fail(c, "unknown global");
			h = c->nvals;
			if (c->live) {
				op(c, OP_GLOBAL_GET);
				cell(c, S(c, h));
				produced(c, h);
				cell(c, x);
			}
			if ((rc = push_t(c, m->globals[x].type)) != 0)
				return rc;
			break;
		case 0x24: /* global.set */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= m->nglobals)
				return fail(c, "unknown global");
			if (!m->globals[x].mut)
				return fail(c, "global is immutable");
			if ((rc = peek_n(c, &m->globals[x].type, 1)) != 0)
				return rc;
			h = c->nvals - 1;
			if (c->live) {
				uint32_t sa = rslot(c, h);
				op(c, OP_GLOBAL_SET);
				cell(c, x);
				cell(c, sa);
			}
			if ((rc = pop(c, WASM_T_ANY, NULL)) != 0)
				return rc;
			break;
		case 0x25: /* table.get */
		case 0x26: /* table.set */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= m->ntables)
				return fail(c, "unknown table");
			if (b == 0x25) {
				if ((rc = peek_n(c, (const uint8_t[]){ I32 }, 1)) != 0)
					return rc;
				h = c->nvals - 1;
				if (c->live) {
					uint32_t si = rslot(c, h);
					op(c, OP_TABLE_GET);
					cell(c, S(c, h));
					produced(c, h);
					cell(c, x);
					cell(c, si);
				}
				(void)pop(c, I32, NULL);
				if ((rc = push_t(c, m->tables[x].elem)) != 0)
					return rc;
			} else {
				uint8_t tt[2] = { I32, m->tables[x].elem };
				if ((rc = peek_n(c, tt, 2)) != 0)
					return rc;
				h = c->nvals - 2;
				if (c->live) {
					uint32_t si = rslot(c, h);
					uint32_t sv = rslot(c, h + 1);
					op(c, OP_TABLE_SET);
					cell(c, x);
					cell(c, si);
					cell(c, sv);
				}
				(void)pop_n(c, tt, 2);
			}
			break;
		case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c:
		case 0x2d: case 0x2e: case 0x2f: case 0x30: case 0x31:
		case 0x32: case 0x33: case 0x34: case 0x35: { /* loads */
			static const struct {
				uint16_t op;
				uint8_t	 t, nat;
			} ld[] = {
				{ OP_LD32, I32, 4 },   { OP_LD64, I64, 8 },
				{ OP_LD32, F32, 4 },   { OP_LD64, F64, 8 },
				{ OP_LD8S32, I32, 1 }, { OP_LD8U, I32, 1 },
				{ OP_LD16S32, I32, 2 }, { OP_LD16U, I32, 2 },
				{ OP_LD8S64, I64, 1 }, { OP_LD8U, I64, 1 },
				{ OP_LD16S64, I64, 2 }, { OP_LD16U, I64, 2 },
				{ OP_LD32S64, I64, 4 }, { OP_LD32, I64, 4 },
			};
			uint32_t off;
			const int k = b - 0x28;

			if ((rc = rd_memarg(c, ld[k].nat, &off)) != 0)
				return rc;
			if ((rc = peek_n(c, (const uint8_t[]){ I32 }, 1)) != 0)
				return rc;
			h = c->nvals - 1;
			if (c->live) {
				uint32_t a2, b2, k2 = NOFIX;
				int fo = bt__wasm_fuse_addr(c, h, ld[k].op,
				    &a2, &b2, &k2);

				if (fo >= 0) {
					op(c, fo);
					cell(c, S(c, h));
					produced(c, h);
					cell(c, a2);
					cell(c, b2);
					if (k2 != NOFIX)
						cell(c, k2);
					cell(c, off);
					if (fo == OP_LD32_X)
						bt__wasm_fuse_ld2(c, h);
				} else {
					uint32_t sa = rslot(c, h);
					op(c, bt__wasm_acc_variant(c, ld[k].op, h,
						  0));
					cell(c, S(c, h));
					produced(c, h);
					cell(c, sa);
					cell(c, off);
				}
			}
			(void)pop(c, I32, NULL);
			if ((rc = push_t(c, ld[k].t)) != 0)
				return rc;
			break;
		}
		case 0x36: case 0x37: case 0x38: case 0x39: case 0x3a:
		case 0x3b: case 0x3c: case 0x3d: case 0x3e: { /* stores */
			static const struct {
				uint16_t op;
				uint8_t	 t, nat;
			} st[] = {
				{ OP_ST32, I32, 4 }, { OP_ST64, I64, 8 },
				{ OP_ST32, F32, 4 }, { OP_ST64, F64, 8 },
				{ OP_ST8, I32, 1 },  { OP_ST16, I32, 2 },
				{ OP_ST8, I64, 1 },  { OP_ST16, I64, 2 },
				{ OP_ST32, I64, 4 },
			};
			uint32_t off;
			const int k = b - 0x36;
			uint8_t tt[2] = { I32, st[k].t };

			if ((rc = rd_memarg(c, st[k].nat, &off)) != 0)
				return rc;
			if ((rc = peek_n(c, tt, 2)) != 0)
				return rc;
			h = c->nvals - 2;
			if (c->live) {
				uint32_t a2, b2, k2 = NOFIX;
				int fo = -1;

				/* Fuse only when the value needs no instruction
				 * (and not the shifted-index form: no such stores). */
				if (c->vals[h + 1].kind == K_LOCAL &&
				    c->last_op != OP_I32_ADD_SHL)
					fo = bt__wasm_fuse_addr(c, h, st[k].op,
					    &a2, &b2, &k2);
				if (fo >= 0) {
					op(c, fo);
					cell(c, a2);
					cell(c, b2);
					cell(c, c->vals[h + 1].idx);
					cell(c, off);
				} else {
					uint32_t sa = rslot(c, h);
					uint32_t sv = rslot(c, h + 1);
					int so = bt__wasm_acc_variant(c,
					    st[k].op, h + 1, 1);

					if (so == OP_ST64_V &&
					    bt__wasm_fuse_rmw(c, sa, sv, off))
						goto stored;
					op(c, so);
					cell(c, sa);
					cell(c, sv);
					cell(c, off);
				}
			stored:;
			}
			(void)pop_n(c, tt, 2);
			break;
		}
		case 0x3f: /* memory.size */
			if ((rc = rd_zero(c)) != 0)
				return rc;
			if (m->nmems == 0)
				return fail(c, "unknown memory");
			h = c->nvals;
			if (c->live) {
				op(c, OP_MEMORY_SIZE);
				cell(c, S(c, h));
				produced(c, h);
			}
			if ((rc = push_t(c, I32)) != 0)
				return rc;
			break;
		case 0x40: /* memory.grow */
			if ((rc = rd_zero(c)) != 0)
				return rc;
			if (m->nmems == 0)
				return fail(c, "unknown memory");
			if ((rc = peek_n(c, (const uint8_t[]){ I32 }, 1)) != 0)
				return rc;
			h = c->nvals - 1;
			if (c->live) {
				uint32_t sa = rslot(c, h);
				op(c, OP_MEMORY_GROW);
				cell(c, S(c, h));
				produced(c, h);
				cell(c, sa);
			}
			(void)pop(c, I32, NULL);
			if ((rc = push_t(c, I32)) != 0)
				return rc;
			break;
		case 0x41: { /* i32.const */
			int64_t s;
			if ((rc = rd_sleb(r, 32, &s)) != 0)
				return rc;
			if ((rc = push(c, I32, c->live ? K_CONST : K_SLOT, 0,
				 (uint32_t)s)) != 0)
				return rc;
			break;
		}
		case 0x42: { /* i64.const */
			int64_t s;
			if ((rc = rd_sleb(r, 64, &s)) != 0)
				return rc;
			if ((rc = push(c, I64, c->live ? K_CONST : K_SLOT, 0,
				 (uint64_t)s)) != 0)
				return rc;
			break;
		}
		case 0x43: { /* f32.const */
			const uint8_t *p;
			if ((rc = rd_bytes(r, 4, &p)) != 0)
				return rc;
			if ((rc = push(c, F32, c->live ? K_CONST : K_SLOT, 0,
				 bt_get_le32(p))) != 0)
				return rc;
			break;
		}
		case 0x44: { /* f64.const */
			const uint8_t *p;
			if ((rc = rd_bytes(r, 8, &p)) != 0)
				return rc;
			if ((rc = push(c, F64, c->live ? K_CONST : K_SLOT, 0,
				 bt_get_le64(p))) != 0)
				return rc;
			break;
		}
		case 0xd0: { /* ref.null */
			uint8_t t;
			if ((rc = rd_reftype(r, &t)) != 0)
				return rc;
			if ((rc = push(c, t, c->live ? K_CONST : K_SLOT, 0, 0)) != 0)
				return rc;
			break;
		}
		case 0xd1: /* ref.is_null */
			if ((rc = pop(c, WASM_T_ANY, &v)) != 0)
				return rc;
			if (v.type != WASM_T_ANY && v.type != BT_WASM_FUNCREF &&
			    v.type != BT_WASM_EXTERNREF)
				return fail(c, "type mismatch (ref.is_null of a number)");
			/* push back for do_unop */
			if ((rc = push(c, v.type, v.kind, v.idx, v.c)) != 0)
				return rc;
			if ((rc = do_unop(c, OP_REF_IS_NULL, WASM_T_ANY, I32)) != 0)
				return rc;
			break;
		case 0xd2: /* ref.func */
			if ((rc = rd_u32(r, &x)) != 0)
				return rc;
			if (x >= m->nfuncs)
				return fail(c, "unknown function");
			if (!m->func_refd[x])
				return fail(c, "undeclared function reference");
			h = c->nvals;
			if (c->live) {
				op(c, OP_REF_FUNC);
				cell(c, S(c, h));
				produced(c, h);
				cell(c, x);
			}
			if ((rc = push_t(c, BT_WASM_FUNCREF)) != 0)
				return rc;
			break;
		case 0xfc: { /* prefixed */
			uint32_t sub;

			if ((rc = rd_u32(r, &sub)) != 0)
				return rc;
			if (sub < 8) {
				if ((rc = do_unop(c, sat_ops[sub], sat_in[sub],
					 sat_out[sub])) != 0)
					return rc;
				break;
			}
			switch (sub) {
			case 8: /* memory.init */
			case 9: /* data.drop */
				if ((rc = rd_u32(r, &x)) != 0)
					return rc;
				if (sub == 8 && (rc = rd_zero(c)) != 0)
					return rc;
				if (!m->has_datacount)
					return fail(c, "data count section required");
				if (sub == 8 && m->nmems == 0)
					return fail(c, "unknown memory 0");
				if (x >= m->datacount)
					return fail(c, "unknown data segment");
				if (sub == 9) {
					if (c->live) {
						op(c, OP_DATA_DROP);
						cell(c, x);
					}
					break;
				}
				goto three_i32;
			case 10: /* memory.copy */
				if ((rc = rd_zero(c)) != 0 || (rc = rd_zero(c)) != 0)
					return rc;
				if (m->nmems == 0)
					return fail(c, "unknown memory 0");
				goto three_i32;
			case 11: /* memory.fill */
				if ((rc = rd_zero(c)) != 0)
					return rc;
				if (m->nmems == 0)
					return fail(c, "unknown memory 0");
				goto three_i32;
			case 12: /* table.init elem table */
				if ((rc = rd_u32(r, &x)) != 0 ||
				    (rc = rd_u32(r, &y)) != 0)
					return rc;
				if (y >= m->ntables)
					return fail(c, "unknown table");
				if (x >= m->nelems)
					return fail(c, "unknown elem segment");
				if (m->elems[x].type != m->tables[y].elem)
					return fail(c, "type mismatch (table.init)");
				goto three_i32;
			case 13: /* elem.drop */
				if ((rc = rd_u32(r, &x)) != 0)
					return rc;
				if (x >= m->nelems)
					return fail(c, "unknown elem segment");
				if (c->live) {
					op(c, OP_ELEM_DROP);
					cell(c, x);
				}
				break;
			case 14: /* table.copy dst src */
				if ((rc = rd_u32(r, &x)) != 0 ||
				    (rc = rd_u32(r, &y)) != 0)
					return rc;
				if (x >= m->ntables || y >= m->ntables)
					return fail(c, "unknown table");
				if (m->tables[x].elem != m->tables[y].elem)
					return fail(c, "type mismatch (table.copy)");
				goto three_i32;
			three_i32: {
				static const uint8_t tt[3] = { I32, I32, I32 };
				if ((rc = peek_n(c, tt, 3)) != 0)
					return rc;
				h = c->nvals - 3;
				if (c->live) {
					uint32_t s0 = rslot(c, h);
					uint32_t s1 = rslot(c, h + 1);
					uint32_t s2 = rslot(c, h + 2);
					switch (sub) {
					case 8:
						op(c, OP_MEMORY_INIT);
						cell(c, x);
						break;
					case 10:
						op(c, OP_MEMORY_COPY);
						break;
					case 11:
						op(c, OP_MEMORY_FILL);
						break;
					case 12:
						op(c, OP_TABLE_INIT);
						cell(c, y);
						cell(c, x);
						break;
					case 14:
						op(c, OP_TABLE_COPY);
						cell(c, x);
						cell(c, y);
						break;
					}
					cell(c, s0);
					cell(c, s1);
					cell(c, s2);
				}
				(void)pop_n(c, tt, 3);
				break;
			}
			case 15: /* table.grow */
			case 17: { /* table.fill */
				if ((rc = rd_u32(r, &x)) != 0)
					return rc;
				if (x >= m->ntables)
					return fail(c, "unknown table");
				uint8_t et = m->tables[x].elem;
				uint8_t tg[2] = { et, I32 };
				uint8_t tf[3] = { I32, et, I32 };
				const uint8_t *tt = sub == 15 ? tg : tf;
				uint32_t n = sub == 15 ? 2 : 3;
				if ((rc = peek_n(c, tt, n)) != 0)
					return rc;
				h = c->nvals - n;
				if (c->live) {
					uint32_t s0 = rslot(c, h);
					uint32_t s1 = rslot(c, h + 1);
					uint32_t s2 = n == 3 ? rslot(c, h + 2) : 0;
					if (sub == 15) {
						op(c, OP_TABLE_GROW);
						cell(c, S(c, h));
						cell(c, x);
						cell(c, s0);
						cell(c, s1);
					} else {
						op(c, OP_TABLE_FILL);
						cell(c, x);
						cell(c, s0);
						cell(c, s1);
						cell(c, s2);
					}
				}
				(void)pop_n(c, tt, n);
				if (sub == 15 && (rc = push_t(c, I32)) != 0)
					return rc;
				break;
			}
			case 16: /* table.size */
				if ((rc = rd_u32(r, &x)) != 0)
					return rc;
				if (x >= m->ntables)
					return fail(c, "unknown table");
				h = c->nvals;
				if (c->live) {
					op(c, OP_TABLE_SIZE);
					cell(c, S(c, h));
					produced(c, h);
					cell(c, x);
				}
				if ((rc = push_t(c, I32)) != 0)
					return rc;
				break;
			default:
				return fail(c, "illegal opcode (0xfc prefix)");
			}
			break;
		}
		case 0x06: case 0x07: case 0x08: case 0x09: case 0x18:
		case 0x19:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: exception handling");
		case 0x12: case 0x13:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: tail calls");
		case 0x14: case 0x15: case 0xd3: case 0xd4: case 0xd5: case 0xd6:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: typed function references");
		case 0xfb:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: garbage collection");
		case 0xfd:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: SIMD");
		case 0xfe:
			return rd_fail(r, r->p - 1, BT_EUNSUPPORTED,
			    "unsupported feature: threads (atomics)");
		default:
			if (b >= 0x45 && b <= 0xc4) {
				const struct numop *n = &numops[b];

				if (n->kind == N_NOP) {
					if ((rc = pop(c, n->in, &v)) != 0)
						return rc;
					/* Reinterpretation: same bits, new type. */
					if ((rc = push(c, n->out, v.kind, v.idx,
						 v.c)) != 0)
						return rc;
					/* A rewrite of the producer stays valid. */
				} else if (n->kind == N_UN) {
					if ((rc = do_unop(c, n->op, n->in, n->out)) != 0)
						return rc;
				} else {
					if ((rc = do_binop(c, n)) != 0)
						return rc;
				}
				break;
			}
			return fail(c, "illegal opcode");
		}
	}
}

int
bt__wasm_compile_func(bt_wasm_module *m, uint32_t fi, const uint8_t *base,
    const uint8_t *p, const uint8_t *end, struct bt_diag *diag)
{
	struct wcomp c;
	uint32_t f = m->nfunc_imports + fi;
	struct wcode *code = &m->codes[fi];
	int rc;

	numops_init();
	memset(&c, 0, sizeof(c));
	c.m = m;
	c.r.base = base;
	c.r.p = p;
	c.r.end = end;
	c.r.diag = diag;
	c.ft = &m->types[m->func_type[f]];
	c.live = true;
	c.last_dst = NOFIX;
	c.last_op = -1;
	c.last_base = -1;
	c.seq_op = -1;
	c.prev_seq_op = -1;
	c.prev2_seq_op = -1;
	c.prev3_seq_op = -1;
	c.label_pc = (uint32_t)m->ncode;
	c.prev_dst = NOFIX;
	c.acc_slot = NOFIX;
	code->body_off = (uint32_t)(p - base);
	code->start = (uint32_t)m->ncode;
	c.cur_off = code->body_off;
	if ((rc = rd_locals(&c)) != 0)
		goto out;
	code->nlocals = c.nlocals;
	if (c.nlocals > c.ft->nparams) {
		/* Locals start at zero: the function's first instruction
		 * clears them, so calls need not look. */
		op(&c, OP_ZERO);
		cell(&c, c.ft->nparams);
		cell(&c, c.nlocals - c.ft->nparams);
		forget(&c);
	}
	if ((rc = push_ctl(&c, 0, ft_params(c.ft), 0, ft_results(c.ft),
		 c.ft->nresults)) != 0)
		goto out;
	c.ctls[0].params = NULL;
	rc = body(&c);
	if (rc == 0 && c.oom)
		rc = -ENOMEM;
	if (rc == -ENOMEM)
		bt_diag_set(diag, (int64_t)c.cur_off, "out of memory");
	if (rc == 0)
		bt__wasm_fuse_post(m, code->start, c.nlocals);
	code->frame_slots = c.nlocals + c.max_height + 4;
	if (code->frame_slots < c.nlocals + c.ft->nresults + 4)
		code->frame_slots = c.nlocals + c.ft->nresults + 4;
out:
	bt_free(c.ltypes);
	bt_free(c.vals);
	bt_free(c.ctls);
	return rc;
}
