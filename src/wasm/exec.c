/*
 * exec.c: the interpreter. Runs the threaded code that code.c compiles,
 * with computed goto (GCC labels as values). Called by instance.c for
 * bt_wasm_instance_call / _resume; calls host functions and nothing else.
 *
 * Design
 * ------
 * The code is an array of 64-bit cells. An instruction is a handler cell
 * (the handler's address: a dispatch is one indirect jump through the
 * cell) followed by its operands: slot numbers relative to the frame
 * pointer, immediates, branch offsets (relative to the cell that holds
 * them). Each handler reads its operands, does its work, and jumps straight
 * to the next handler.
 *
 * Invariants:
 *  1. All execution state is in the instance: the value stack
 *     (inst->stack), the call frames (inst->frames[0..depth]) and, while
 *     suspended, the program counter, frame pointer and function
 *     (inst->s_pc/s_fp/s_func). WebAssembly calls never recurse on the C
 *     stack. The dispatch loop keeps copies in locals (pc, fp, the memory
 *     base and size) and writes them back when it stops.
 *  2. A frame is fp[0 .. frame_slots): params, then locals, then the
 *     operand slots. A call's arguments are the caller's top operand slots,
 *     which become the callee's params in place; results come back in the
 *     same place. frames[d] holds the function running at depth d and the
 *     pc and fp of its caller (to return to); frames[0].pc is RET_END
 *     (1): returning there ends the run. A return pc is 8-byte aligned;
 *     bit 0 set on one means the caller runs in another instance (an
 *     imported function returns), so the return reloads ci, mb and ms.
 *  3. Every instruction leaves pc at its own start until it has no side
 *     effect left to do, so a trap reports the instruction that trapped and
 *     a stop for fuel, interrupt or deadline (taken only in branch and call
 *     handlers, before their effect) can resume by executing it again.
 *  4. Memory accesses compare the 33-bit effective address plus width with
 *     the current memory size; the memory's base never moves.
 *  5. The cached memory base and size (mb, ms) are those of the running
 *     function's instance (ci). memory.grow and host calls reload them;
 *     calls and returns reload them only when the instance changes, since
 *     one instance's memory can only have changed through those.
 *
 * States of an instance:
 *
 *   IDLE --bt__wasm_exec--> RUNNING --return/exit/trap--> IDLE
 *                              |  ^
 *        fuel/interrupt/deadline  | bt__wasm_exec(resume)
 *                              v  |
 *                           SUSPENDED --bt_wasm_instance_reset--> IDLE
 *
 * Locking theory: an instance runs on one thread at a time. The only
 * cross-thread access is inst->interrupt, an atomic int stored by
 * bt_wasm_instance_interrupt and read (relaxed) when the tick budget runs
 * out, at most every TICK_CHUNK back-edges or calls.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wasm_int.h"

#define TICK_CHUNK 4096

/* The return pc of the bottom frame: returning there ends the run. */
#define RET_END ((const uint64_t *)(uintptr_t)1)

/*
 * The memory base is, after pc, fp and acc, the most used value of the
 * dispatch loop. GCC's register allocator weighs the whole loop at once,
 * and an unrelated new handler once made it spill the base (one more load
 * in every memory access: 5-10% on memory-heavy programs). Where we can,
 * the base is pinned to a callee-saved register; this is a hint that
 * changes no result.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MB_REG __asm__("r15")
/* The same for facc, the f64 accumulator: twenty new handlers once made
 * GCC keep it on the stack (nbody 25% slower). It is live only from one
 * handler to the next, never across a call, so a call-clobbered register
 * is fine. */
#define FACC_REG __asm__("xmm15")
#else
#define MB_REG
#define FACC_REG
#endif

const uint8_t bt__wasm_op_len[OP__COUNT] = {
#define X(name, n) [OP_##name] = n,
#include "ops.h"
#undef X
};

static uint64_t	      handler_off[OP__COUNT];
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static int run(bt_wasm_instance *inst, bt_wasm_func *f, bool resume);

static void
handlers_init(void)
{
	(void)run(NULL, NULL, false);
}

uint64_t
bt__wasm_handler(int op)
{
	pthread_once(&handler_once, handlers_init);
	return handler_off[op];
}

/*
 * Value stacks are mapped lazily (MAP_NORESERVE, pages committed as they
 * are touched) and one released stack per thread is kept for the next
 * instance: mapping, faulting in and unmapping 8 MiB costs more than
 * everything else an instantiation does. Reuse is safe because validated
 * code never reads a slot it has not written (locals are zeroed on entry).
 */
static __thread void  *stack_cache;
static __thread size_t stack_cache_bytes;

static size_t
stack_bytes(const bt_wasm_instance *inst)
{
	return inst->lim.max_stack_slots * sizeof(uint64_t) +
	    (inst->lim.max_call_depth + 2) * sizeof(struct wframe);
}

int
bt__wasm_stack_alloc(bt_wasm_instance *inst)
{
	size_t sbytes = inst->lim.max_stack_slots * sizeof(uint64_t);
	size_t total = stack_bytes(inst);
	void *p;

	if (inst->stack != NULL)
		return 0;
	if (stack_cache != NULL && stack_cache_bytes == total) {
		p = stack_cache;
		stack_cache = NULL;
	} else {
		p = mmap(NULL, total, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
	}
	inst->stack = p;
	inst->stack_slots = inst->lim.max_stack_slots;
	inst->frames = (struct wframe *)((uint8_t *)p + sbytes);
	inst->max_depth = (uint32_t)inst->lim.max_call_depth;
	return 0;
}

void
bt__wasm_stack_free(bt_wasm_instance *inst)
{
	size_t total = stack_bytes(inst);

	if (inst->stack == NULL)
		return;
	if (stack_cache == NULL) {
		stack_cache = inst->stack;
		stack_cache_bytes = total;
	} else {
		munmap(inst->stack, total);
	}
	inst->stack = NULL;
}

/* ---- float helpers: values travel as bits ---- */

static inline float
f32v(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline uint64_t
f32b(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline double
f64v(uint64_t v)
{
	double d;

	memcpy(&d, &v, 8);
	return d;
}

static inline uint64_t
f64b(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static inline float
fminf_wasm(float a, float b)
{
	if (isnan(a) || isnan(b))
		return a + b;
	if (a == 0 && b == 0)
		return signbit(a) ? a : b;
	return a < b ? a : b;
}

static inline float
fmaxf_wasm(float a, float b)
{
	if (isnan(a) || isnan(b))
		return a + b;
	if (a == 0 && b == 0)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}

static inline double
fmin_wasm(double a, double b)
{
	if (isnan(a) || isnan(b))
		return a + b;
	if (a == 0 && b == 0)
		return signbit(a) ? a : b;
	return a < b ? a : b;
}

static inline double
fmax_wasm(double a, double b)
{
	if (isnan(a) || isnan(b))
		return a + b;
	if (a == 0 && b == 0)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}

/* A NaN result of a unary rounding function must be quiet (arithmetic). */
static inline float
quietf(float x, float r)
{
	return isnan(x) ? x + x : r;
}

static inline double
quiet(double x, double r)
{
	return isnan(x) ? x + x : r;
}

static inline uint32_t
rotl32(uint32_t a, uint32_t b)
{
	b &= 31;
	return (a << b) | (a >> ((32 - b) & 31));
}

static inline uint32_t
rotr32(uint32_t a, uint32_t b)
{
	b &= 31;
	return (a >> b) | (a << ((32 - b) & 31));
}

static inline uint64_t
rotl64(uint64_t a, uint64_t b)
{
	b &= 63;
	return (a << b) | (a >> ((64 - b) & 63));
}

static inline uint64_t
rotr64(uint64_t a, uint64_t b)
{
	b &= 63;
	return (a >> b) | (a << ((64 - b) & 63));
}

/* Saturating truncations. */
static inline uint64_t
sat_i32(double x)
{
	if (isnan(x))
		return 0;
	if (x <= -2147483649.0)
		return (uint32_t)INT32_MIN;
	if (x >= 2147483648.0)
		return (uint32_t)INT32_MAX;
	return (uint32_t)(int32_t)x;
}

static inline uint64_t
sat_u32(double x)
{
	if (isnan(x) || x <= -1.0)
		return 0;
	if (x >= 4294967296.0)
		return UINT32_MAX;
	return (uint32_t)x;
}

static inline uint64_t
sat_i64(double x)
{
	if (isnan(x))
		return 0;
	if (x < -9223372036854775808.0)
		return (uint64_t)INT64_MIN;
	if (x >= 9223372036854775808.0)
		return (uint64_t)INT64_MAX;
	return (uint64_t)(int64_t)x;
}

static inline uint64_t
sat_u64(double x)
{
	if (isnan(x) || x <= -1.0)
		return 0;
	if (x >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)x;
}

static inline uint64_t
sat_i64f(float x)
{
	if (isnan(x))
		return 0;
	if (x < -9223372036854775808.0f)
		return (uint64_t)INT64_MIN;
	if (x >= 9223372036854775808.0f)
		return (uint64_t)INT64_MAX;
	return (uint64_t)(int64_t)x;
}

static inline uint64_t
sat_u64f(float x)
{
	if (isnan(x) || x <= -1.0f)
		return 0;
	if (x >= 18446744073709551616.0f)
		return UINT64_MAX;
	return (uint64_t)x;
}

/* The slow part of a tick check: interrupt, deadline, fuel. Returns 0 with
 * a new budget in *ticks, or the trap kind. */
static int
tick_slow(bt_wasm_instance *inst, int64_t *ticks)
{
	*ticks = 0;
	if (atomic_load_explicit(&inst->interrupt, memory_order_relaxed)) {
		atomic_store_explicit(&inst->interrupt, 0, memory_order_relaxed);
		return BT_WASM_TRAP_INTERRUPTED;
	}
	if (inst->lim.deadline_ns != 0 &&
	    bt_time_mono_ns() >= inst->lim.deadline_ns)
		return BT_WASM_TRAP_DEADLINE;
	if (inst->lim.fuel != 0) {
		if (inst->fuel == 0)
			return BT_WASM_TRAP_FUEL;
		uint64_t n = inst->fuel < TICK_CHUNK ? inst->fuel : TICK_CHUNK;
		inst->fuel -= n;
		/* This check consumes one unit of the new budget. */
		*ticks = (int64_t)n - 1;
		return 0;
	}
	*ticks = TICK_CHUNK - 1;
	return 0;
}

static void
host_trap_copy(bt_wasm_instance *inst, bt_wasm_instance *from)
{
	if (from != inst && from != NULL)
		memcpy(inst->trap.msg, from->trap.msg, sizeof(inst->trap.msg));
}

#ifdef BT_WASM_PROFILE
/* A dynamic profile for tuning: with -DBT_WASM_PROFILE every dispatch
 * calls this hook, which a tuning tool defines (it is not in the library
 * build). */
void bt__wasm_prof(const uint64_t *pc);
#endif

int
bt__wasm_exec(bt_wasm_instance *inst, bt_wasm_func *f, bool resume)
{
	pthread_once(&handler_once, handlers_init);
	return run(inst, f, resume);
}

/*
 * run: the dispatch loop. With inst == NULL it only fills handler_off.
 */
static int
run(bt_wasm_instance *inst, bt_wasm_func *f, bool resume)
{
	static const void *const labels[OP__COUNT] = {
#define X(name, n) [OP_##name] = &&L_##name,
#include "ops.h"
#undef X
	};

	const uint64_t	*pc;
	uint64_t	*fp;
	struct wframe	*fr; /* the running function's frame */
	struct wframe	*fr_end;
	bt_wasm_instance *ci; /* instance of the running function */
	register uint8_t *mb MB_REG;
	uint64_t	 ms;
	uint64_t	*stack_end;
	int64_t		 ticks;
	int		 tk;
	bt_wasm_func	*callee;
	uint64_t	*nfp;
	const uint64_t	*ret_pc;
	int		 rc;
	uint64_t	 acc = 0; /* the last result, also in its slot */
	register double	 facc FACC_REG = 0; /* acc as a double, after f64 ops */

	if (inst == NULL) {
		for (int i = 0; i < OP__COUNT; i++)
			handler_off[i] = (uint64_t)(uintptr_t)labels[i];
		return 0;
	}

#define LOAD_INST(x)                                                        \
	do {                                                                \
		ci = (x);                                                   \
		mb = ci->mem ? ci->mem->base : NULL;                        \
		ms = ci->mem ? ci->mem->size : 0;                           \
	} while (0)
#define RELOAD_MEM()                                                        \
	do {                                                                \
		mb = ci->mem ? ci->mem->base : NULL;                        \
		ms = ci->mem ? ci->mem->size : 0;                           \
	} while (0)
#ifdef BT_WASM_PROFILE
#define DISPATCH()                                                          \
	do {                                                                \
		bt__wasm_prof(pc);                                          \
		goto *(const void *)(uintptr_t)*pc;                         \
	} while (0)
#else
#define DISPATCH() goto *(const void *)(uintptr_t)*pc
#endif
#define NEXT(n)                                                             \
	do {                                                                \
		pc += (n);                                                  \
		DISPATCH();                                                 \
	} while (0)
#define TRAP(k)                                                             \
	do {                                                                \
		tk = (k);                                                   \
		goto trap;                                                  \
	} while (0)
#define TICK()                                                              \
	do {                                                                \
		if (__builtin_expect(--ticks < 0, 0)) {                    \
			tk = tick_slow(inst, &ticks);                       \
			if (tk != 0)                                        \
				goto trap;                                  \
		}                                                           \
	} while (0)
#define JUMP(cellp)                                                         \
	do {                                                                \
		const uint64_t *c_ = (cellp);                               \
		int32_t off_ = (int32_t)*c_;                                \
		if (off_ < 0)                                               \
			TICK();                                             \
		pc = c_ + off_;                                             \
		DISPATCH();                                                 \
	} while (0)
#define R(i) fp[pc[i]]
#define U32(i) ((uint32_t)fp[pc[i]])
#define S32(i) ((int32_t)(uint32_t)fp[pc[i]])
#define U64(i) (fp[pc[i]])
#define S64(i) ((int64_t)fp[pc[i]])
#define IMM32 (pc[3])
#define SIMM ((int64_t)(int32_t)pc[3])

	/* Rarely used state is read through the instance, to leave the
	 * registers to pc, fp, the memory base and size, and acc. */
	stack_end = inst->stack + inst->stack_slots;
	fr_end = inst->frames + inst->max_depth;
	if (inst->lim.fuel != 0) {
		uint64_t n = inst->fuel < TICK_CHUNK ? inst->fuel : TICK_CHUNK;
		inst->fuel -= n;
		ticks = (int64_t)n;
	} else {
		ticks = TICK_CHUNK;
	}
	if (resume) {
		pc = inst->s_pc;
		fp = inst->s_fp;
		fr = inst->frames + inst->depth;
		inst->suspended = false;
		LOAD_INST(fr->func->inst);
		DISPATCH();
	}
	fr = inst->frames;
	fr->pc = RET_END;
	fr->fp = NULL;
	fr->func = f;
	fp = inst->stack;
	LOAD_INST(f->inst);
	if (fp + f->frame_slots > stack_end) {
		pc = f->code;
		TRAP(BT_WASM_TRAP_STACK_EXHAUSTED);
	}
	pc = f->code;
	DISPATCH();

	/* ---- control ---- */
L_UNREACHABLE:
	TRAP(BT_WASM_TRAP_UNREACHABLE);
L_BR:
	JUMP(pc + 1);
L_BR_IF:
	if (U32(1) != 0)
		JUMP(pc + 2);
	NEXT(3);
L_BR_UNLESS:
	if (U32(1) == 0)
		JUMP(pc + 2);
	NEXT(3);
L_BR_TABLE: {
	uint32_t i = U32(1), n = pc[2];

	if (i > n)
		i = n;
	JUMP(pc + 3 + i);
}
	/* x += k, then branch if x != 0 / x != n: (x, k, [n,] offset). The
	 * fuel check of a taken backward branch comes before x is written
	 * (invariant 3). */
L_I32_INC_BR_NZ: {
	uint32_t v = (uint32_t)(U32(1) + (uint32_t)pc[2]);

	if (v != 0) {
		const uint64_t *c_ = pc + 3;
		int32_t off_ = (int32_t)*c_;

		if (off_ < 0)
			TICK();
		R(1) = v;
		pc = c_ + off_;
		DISPATCH();
	}
	R(1) = v;
	NEXT(4);
}
L_I32_INC_BR_NE: {
	uint32_t v = (uint32_t)(U32(1) + (uint32_t)pc[2]);

	if (v != (uint32_t)pc[3]) {
		const uint64_t *c_ = pc + 4;
		int32_t off_ = (int32_t)*c_;

		if (off_ < 0)
			TICK();
		R(1) = v;
		pc = c_ + off_;
		DISPATCH();
	}
	R(1) = v;
	NEXT(5);
}
	/* the same after another step w = s + j: (w, s, j, x, k, [n,]
	 * offset); nothing is written before the fuel check */
L_I32_ADDI_INC_BR_NZ: {
	uint32_t t_ = (uint32_t)(U32(2) + (uint32_t)pc[3]);
	uint32_t v = (uint32_t)(U32(4) + (uint32_t)pc[5]);

	if (v != 0) {
		const uint64_t *c_ = pc + 6;
		int32_t off_ = (int32_t)*c_;

		if (off_ < 0)
			TICK();
		R(1) = t_;
		R(4) = v;
		pc = c_ + off_;
		DISPATCH();
	}
	R(1) = t_;
	R(4) = v;
	NEXT(7);
}
L_I32_ADDI_INC_BR_NE: {
	uint32_t t_ = (uint32_t)(U32(2) + (uint32_t)pc[3]);
	uint32_t v = (uint32_t)(U32(4) + (uint32_t)pc[5]);

	if (v != (uint32_t)pc[6]) {
		const uint64_t *c_ = pc + 7;
		int32_t off_ = (int32_t)*c_;

		if (off_ < 0)
			TICK();
		R(1) = t_;
		R(4) = v;
		pc = c_ + off_;
		DISPATCH();
	}
	R(1) = t_;
	R(4) = v;
	NEXT(8);
}
	/* w = s + j, then branch if a op b (w, s, j, a, b, offset); w is
	 * neither a nor b, and is written after the fuel check */
#define ADDBRC(name, T, op_)                                                \
	L_ADDI_BR_I32_##name:                                               \
	{                                                                   \
		uint32_t t_ = (uint32_t)(U32(2) + (uint32_t)pc[3]);         \
		if ((T)(uint32_t)R(4) op_ (T)(uint32_t)R(5)) {              \
			const uint64_t *c_ = pc + 6;                        \
			int32_t off_ = (int32_t)*c_;                        \
			if (off_ < 0)                                       \
				TICK();                                     \
			R(1) = t_;                                          \
			pc = c_ + off_;                                     \
			DISPATCH();                                         \
		}                                                           \
		R(1) = t_;                                                  \
		NEXT(7);                                                    \
	}
	ADDBRC(EQ, uint32_t, ==)
	ADDBRC(NE, uint32_t, !=)
	ADDBRC(LT_S, int32_t, <)
	ADDBRC(LT_U, uint32_t, <)
	ADDBRC(GT_S, int32_t, >)
	ADDBRC(GT_U, uint32_t, >)
	ADDBRC(LE_S, int32_t, <=)
	ADDBRC(LE_U, uint32_t, <=)
	ADDBRC(GE_S, int32_t, >=)
	ADDBRC(GE_U, uint32_t, >=)
	/* moves then a branch (dst, src, ..., offset): the fuel check of a
	 * backward one comes before the moves (invariant 3) */
L_MOV_BR:
	if ((int32_t)pc[3] < 0)
		TICK();
	R(1) = R(2);
	pc += 3 + (int32_t)pc[3];
	DISPATCH();
L_MOV2_BR:
	if ((int32_t)pc[5] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	pc += 5 + (int32_t)pc[5];
	DISPATCH();
L_MOV3_BR:
	if ((int32_t)pc[7] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	pc += 7 + (int32_t)pc[7];
	DISPATCH();
L_MOV4_BR:
	if ((int32_t)pc[9] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	pc += 9 + (int32_t)pc[9];
	DISPATCH();
L_MOV5_BR:
	if ((int32_t)pc[11] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	R(9) = R(10);
	pc += 11 + (int32_t)pc[11];
	DISPATCH();
	/* a back-edge's moves and the moves at the head of its loop, which
	 * the branch then skips (code.c, trick 23) */
L_MOV6_BR:
	if ((int32_t)pc[13] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	R(9) = R(10);
	R(11) = R(12);
	pc += 13 + (int32_t)pc[13];
	DISPATCH();
L_MOV7_BR:
	if ((int32_t)pc[15] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	R(9) = R(10);
	R(11) = R(12);
	R(13) = R(14);
	pc += 15 + (int32_t)pc[15];
	DISPATCH();
L_MOV8_BR:
	if ((int32_t)pc[17] < 0)
		TICK();
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	R(9) = R(10);
	R(11) = R(12);
	R(13) = R(14);
	R(15) = R(16);
	pc += 17 + (int32_t)pc[17];
	DISPATCH();
	/* moves leave the last value moved in acc (code.c, trick 5) */
L_MOV:
	acc = R(1) = R(2);
	NEXT(3);
L_MOV2:
	R(1) = R(2);
	acc = R(3) = R(4);
	NEXT(5);
L_MOV3:
	R(1) = R(2);
	R(3) = R(4);
	acc = R(5) = R(6);
	NEXT(7);
L_MOV4:
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	acc = R(7) = R(8);
	NEXT(9);
L_MOV5:
	R(1) = R(2);
	R(3) = R(4);
	R(5) = R(6);
	R(7) = R(8);
	acc = R(9) = R(10);
	NEXT(11);
L_I32_XOR_ROTL_I:
	acc = R(1) = U32(2) ^ rotl32(U32(3), (uint32_t)pc[4]);
	NEXT(5);
L_I32_XOR_ROTL_I_A:
	acc = R(1) = (uint32_t)acc ^ rotl32(U32(3), (uint32_t)pc[4]);
	NEXT(5);
	/* xors of rotations and shifts of one value (fuse.c, trick 16) */
L_I32_ROT2X: {
	uint32_t x_ = U32(2);

	acc = R(1) = rotl32(x_, (uint32_t)pc[3]) ^ rotl32(x_, (uint32_t)pc[4]);
	NEXT(5);
}
L_I32_ROT3X: {
	uint32_t x_ = U32(2);

	acc = R(1) = rotl32(x_, (uint32_t)pc[3]) ^
	    rotl32(x_, (uint32_t)pc[4]) ^ rotl32(x_, (uint32_t)pc[5]);
	NEXT(6);
}
L_I32_ROT2SHRX: {
	uint32_t x_ = U32(2);

	acc = R(1) = rotl32(x_, (uint32_t)pc[3]) ^
	    rotl32(x_, (uint32_t)pc[4]) ^ (x_ >> (pc[5] & 31));
	NEXT(6);
}
L_I32_ANDN:
	acc = R(1) = U32(2) & ~U32(3);
	NEXT(4);
L_I32_MAJ: {
	uint32_t p_ = U32(3), q_ = U32(4);

	acc = R(1) = (U32(2) & (p_ ^ q_)) ^ (p_ & q_);
	NEXT(5);
}
	/* x + f(...) for the bit functions above (fuse.c, trick 20): (d,
	 * x, f's operands); ADD_ANDN_A takes x from acc */
L_I32_ADD_MAJ: {
	uint32_t p_ = U32(4), q_ = U32(5);

	acc = R(1) = (uint32_t)(U32(2) + ((U32(3) & (p_ ^ q_)) ^ (p_ & q_)));
	NEXT(6);
}
	/* the same with x the xor of three rotations of v computed just
	 * before (trick 26): (d, v, i, j, k, a, p, q) */
L_I32_ROT3X_ADD_MAJ: {
	uint32_t v_ = U32(2), p_ = U32(7), q_ = U32(8);

	acc = R(1) = (uint32_t)((rotl32(v_, (uint32_t)pc[3]) ^
				    rotl32(v_, (uint32_t)pc[4]) ^
				    rotl32(v_, (uint32_t)pc[5])) +
	    ((U32(6) & (p_ ^ q_)) ^ (p_ & q_)));
	NEXT(9);
}
L_I32_ADD_ANDN:
	acc = R(1) = (uint32_t)(U32(2) + (U32(3) & ~U32(4)));
	NEXT(5);
L_I32_ADD_ANDN_A:
	acc = R(1) = (uint32_t)((uint32_t)acc + (U32(3) & ~U32(4)));
	NEXT(5);
L_I32_ADD_ANDN_N:
	acc = (uint32_t)(U32(2) + (U32(3) & ~U32(4)));
	NEXT(5);
L_I32_ADD_ANDN_A_N:
	acc = (uint32_t)((uint32_t)acc + (U32(3) & ~U32(4)));
	NEXT(5);
	/* the same with v loaded just before into a local, which is still
	 * written (e, x, v's slot, base, imm, off, i, j, s) (trick 27) */
#define ROTLD(name, st)                                                     \
	L_##name:                                                           \
	{                                                                   \
		uint64_t ea_ = (uint64_t)(uint32_t)(U32(4) + pc[5]) + pc[6]; \
		uint32_t v_, r_;                                            \
		if (__builtin_expect(ea_ + 4 > ms, 0))                      \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&v_, mb + ea_, 4);                                   \
		R(3) = v_;                                                  \
		r_ = (uint32_t)(U32(2) + (rotl32(v_, (uint32_t)pc[7]) ^     \
		    rotl32(v_, (uint32_t)pc[8]) ^ (v_ >> (pc[9] & 31))));   \
		if (st)                                                     \
			R(1) = r_;                                          \
		acc = r_;                                                   \
		NEXT(10);                                                   \
	}
	ROTLD(I32_ADD_ROT2SHRX_LD, 1)
	ROTLD(I32_ADD_ROT2SHRX_LD_N, 0)
L_I32_ADD_ROT2SHRX: {
	uint32_t v_ = U32(3);

	acc = R(1) = (uint32_t)(U32(2) + (rotl32(v_, (uint32_t)pc[4]) ^
	    rotl32(v_, (uint32_t)pc[5]) ^ (v_ >> (pc[6] & 31))));
	NEXT(7);
}
L_I32_ADD_ROT2SHRX_N: {
	uint32_t v_ = U32(3);

	acc = (uint32_t)(U32(2) + (rotl32(v_, (uint32_t)pc[4]) ^
	    rotl32(v_, (uint32_t)pc[5]) ^ (v_ >> (pc[6] & 31))));
	NEXT(7);
}
	/* x + (a op b): (d, x, a, b) */
#define ADDC(name, T, op_)                                                  \
	L_ADDC_I32_##name:                                                  \
	acc = R(1) = (uint32_t)(U32(2) +                                    \
	    (uint32_t)((T)(uint32_t)R(3) op_ (T)(uint32_t)R(4)));            \
	NEXT(5);
	ADDC(EQ, uint32_t, ==)
	ADDC(NE, uint32_t, !=)
	ADDC(LT_S, int32_t, <)
	ADDC(LT_U, uint32_t, <)
	ADDC(GT_S, int32_t, >)
	ADDC(GT_U, uint32_t, >)
	ADDC(LE_S, int32_t, <=)
	ADDC(LE_U, uint32_t, <=)
	ADDC(GE_S, int32_t, >=)
	ADDC(GE_U, uint32_t, >=)
L_CONST32:
	acc = R(1) = pc[2];
	NEXT(3);
L_CONST64:
	acc = R(1) = (uint64_t)pc[2] | ((uint64_t)pc[3] << 32);
	NEXT(4);
L_RETURN:
	/* A return pc with bit 0 set ends the run (RET_END) or returns to
	 * another instance; the memory size is current otherwise: a
	 * memory.grow in the callee updated ms (invariant 5). */
	ret_pc = fr->pc;
	if (__builtin_expect((uintptr_t)ret_pc & 1, 0))
		goto ret_slow;
	pc = ret_pc;
	fp = fr->fp;
	fr--;
	DISPATCH();
ret_slow:
	if (ret_pc == RET_END)
		goto done;
	pc = (const uint64_t *)((uintptr_t)ret_pc & ~(uintptr_t)1);
	fp = fr->fp;
	fr--;
	LOAD_INST(fr->func->inst);
	DISPATCH();
	/* A function's first instruction when it has locals besides its
	 * params: zero them, (first, count) */
L_ZERO: {
	uint64_t *z = fp + pc[1];
	uint64_t *ze = z + pc[2];

	do {
		*z++ = 0;
	} while (z < ze);
	NEXT(3);
}
L_CALL_D:
	/* A function defined in this module: never a host function, always
	 * of this instance. (func's byte offset in ci->fobj, frame offset,
	 * its code relative to this cell's instruction, the end of its
	 * frame relative to fp): the next pc and the stack check need no
	 * load through the callee */
	TICK();
	if (__builtin_expect(fr + 1 >= fr_end || fp + pc[4] > stack_end, 0))
		TRAP(BT_WASM_TRAP_STACK_EXHAUSTED);
	fr++;
	fr->pc = pc + 5;
	fr->fp = fp;
	fr->func = (bt_wasm_func *)((uint8_t *)ci->fobj + pc[1]);
	fp += pc[2];
	pc += (int64_t)pc[3];
	DISPATCH();
L_CALL_D_ADDI:
	/* CALL_D that first computes its last argument, (func, frame
	 * offset, dst, a, k, code, frame end): fp[dst] = a + k, after the
	 * checks, so a stop for fuel re-executes it whole (invariant 3) */
	TICK();
	if (__builtin_expect(fr + 1 >= fr_end || fp + pc[7] > stack_end, 0))
		TRAP(BT_WASM_TRAP_STACK_EXHAUSTED);
	R(3) = (uint32_t)(U32(4) + (uint32_t)pc[5]);
	fr++;
	fr->pc = pc + 8;
	fr->fp = fp;
	fr->func = (bt_wasm_func *)((uint8_t *)ci->fobj + pc[1]);
	fp += pc[2];
	pc += (int64_t)pc[6];
	DISPATCH();
L_CALL:
	callee = ci->funcs[pc[1]];
	nfp = fp + pc[2];
	ret_pc = pc + 3;
	goto do_call;
L_CALL_INDIRECT: {
	struct wtable *t = ci->tables[pc[2]];
	uint32_t i = U32(4);
	const struct wfunctype *want;

	if (i >= t->size)
		TRAP(BT_WASM_TRAP_UNDEFINED_ELEM);
	callee = t->elems[i];
	if (callee == NULL)
		TRAP(BT_WASM_TRAP_UNINIT_ELEM);
	want = &ci->mod->types[pc[1]];
	if (callee->type != want && !bt__wasm_type_eq(callee->type, want))
		TRAP(BT_WASM_TRAP_INDIRECT_TYPE);
	nfp = fp + pc[3];
	ret_pc = pc + 5;
	goto do_call;
}
do_call:
	TICK();
	if (callee->code == NULL) {
		struct bt_wasm_call call = {
			.inst = ci,
			.args = nfp,
			.results = nfp,
			.nargs = callee->type->nparams,
			.nresults = callee->type->nresults,
		};

		if (nfp + callee->type->nresults + 1 > stack_end)
			TRAP(BT_WASM_TRAP_STACK_EXHAUSTED);
		ci->trap.msg[0] = '\0';
		rc = callee->host(callee->host_arg, &call);
		if (rc == BT_WASM_EXITED) {
			if (ci != inst)
				inst->exit_status = ci->exit_status;
			goto exited;
		}
		if (rc != 0) {
			host_trap_copy(inst, ci);
			if (rc != BT_ETRAP || inst->trap.msg[0] == '\0')
				snprintf(inst->trap.msg, sizeof(inst->trap.msg),
				    "host function failed: %s", bt_strerror(rc));
			tk = BT_WASM_TRAP_HOST;
			goto trap_keepmsg;
		}
		RELOAD_MEM();
		pc = ret_pc;
		DISPATCH();
	}
	if (fr + 1 >= fr_end || nfp + callee->frame_slots > stack_end)
		TRAP(BT_WASM_TRAP_STACK_EXHAUSTED);
	fr++;
	fr->pc = ret_pc;
	fr->fp = fp;
	fr->func = callee;
	fp = nfp;
	if (callee->inst != ci) {
		/* the return reloads the caller's instance */
		fr->pc = (const uint64_t *)((uintptr_t)ret_pc | 1);
		LOAD_INST(callee->inst);
	}
	pc = callee->code;
	DISPATCH();

L_SELECT:
	acc = R(1) = U32(4) ? R(2) : R(3);
	NEXT(5);
	/* an i32 compare and the select of its result: (dst, a, b, cond,
	 * p, q); cond = p op q is written first, as the compare did */
#define SELC(name, T, op_)                                                  \
	L_SEL_I32_##name:                                                   \
	{                                                                   \
		uint32_t k_ = (T)(uint32_t)R(5) op_ (T)(uint32_t)R(6);      \
		R(4) = k_;                                                  \
		acc = R(1) = k_ ? R(2) : R(3);                              \
		NEXT(7);                                                    \
	}                                                                   \
	L_SEL_I32_##name##_N:                                               \
	{                                                                   \
		uint32_t k_ = (T)(uint32_t)R(5) op_ (T)(uint32_t)R(6);      \
		R(4) = k_;                                                  \
		acc = k_ ? R(2) : R(3);                                     \
		NEXT(7);                                                    \
	}
	SELC(EQ, uint32_t, ==)
	SELC(NE, uint32_t, !=)
	SELC(LT_S, int32_t, <)
	SELC(LT_U, uint32_t, <)
	SELC(GT_S, int32_t, >)
	SELC(GT_U, uint32_t, >)
	SELC(LE_S, int32_t, <=)
	SELC(LE_U, uint32_t, <=)
	SELC(GE_S, int32_t, >=)
	SELC(GE_U, uint32_t, >=)
L_GLOBAL_GET:
	acc = R(1) = ci->globals[pc[2]]->val;
	NEXT(3);
L_GLOBAL_SET:
	ci->globals[pc[1]]->val = R(2);
	NEXT(3);

	/* ---- memory ---- */
#define EA(n)                                                               \
	uint64_t ea = (uint64_t)U32(2) + pc[3];                             \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
#define EAS(n)                                                              \
	uint64_t ea = (uint64_t)U32(1) + pc[3];                             \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
L_LD32: {
	EA(4);
	uint32_t v;
	memcpy(&v, mb + ea, 4);
	acc = R(1) = v;
	NEXT(4);
}
L_LD64: {
	EA(8);
	uint64_t v;
	memcpy(&v, mb + ea, 8);
	acc = R(1) = v;
	NEXT(4);
}
L_LD8S32: {
	EA(1);
	acc = R(1) = (uint32_t)(int32_t)(int8_t)mb[ea];
	NEXT(4);
}
L_LD8U: {
	EA(1);
	acc = R(1) = mb[ea];
	NEXT(4);
}
L_LD16S32: {
	EA(2);
	int16_t v;
	memcpy(&v, mb + ea, 2);
	acc = R(1) = (uint32_t)(int32_t)v;
	NEXT(4);
}
L_LD16U: {
	EA(2);
	uint16_t v;
	memcpy(&v, mb + ea, 2);
	acc = R(1) = v;
	NEXT(4);
}
L_LD8S64: {
	EA(1);
	acc = R(1) = (uint64_t)(int64_t)(int8_t)mb[ea];
	NEXT(4);
}
L_LD16S64: {
	EA(2);
	int16_t v;
	memcpy(&v, mb + ea, 2);
	acc = R(1) = (uint64_t)(int64_t)v;
	NEXT(4);
}
L_LD32S64: {
	EA(4);
	int32_t v;
	memcpy(&v, mb + ea, 4);
	acc = R(1) = (uint64_t)(int64_t)v;
	NEXT(4);
}
L_ST8: {
	EAS(1);
	mb[ea] = (uint8_t)R(2);
	NEXT(4);
}
L_ST16: {
	EAS(2);
	uint16_t v = (uint16_t)R(2);
	memcpy(mb + ea, &v, 2);
	NEXT(4);
}
L_ST32: {
	EAS(4);
	uint32_t v = (uint32_t)R(2);
	memcpy(mb + ea, &v, 4);
	NEXT(4);
}
L_ST64: {
	EAS(8);
	uint64_t v = R(2);
	memcpy(mb + ea, &v, 8);
	NEXT(4);
}
	/* fused address computation: (a + b) or (a + imm), wrapped to 32
	 * bits, plus the offset in cell 4 */
#define EAI(n)                                                              \
	uint64_t ea = (uint64_t)(uint32_t)(U32(2) + pc[3]) + pc[4];         \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
#define EAR(n)                                                              \
	uint64_t ea = (uint64_t)(uint32_t)(U32(2) + U32(3)) + pc[4];        \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
#define LDF(name, n, T, conv)                                               \
	L_##name##_I:                                                       \
	{                                                                   \
		EAI(n);                                                     \
		T v;                                                        \
		memcpy(&v, mb + ea, n);                                     \
		acc = R(1) = conv;                                                \
		NEXT(5);                                                    \
	}                                                                   \
	L_##name##_R:                                                       \
	{                                                                   \
		EAR(n);                                                     \
		T v;                                                        \
		memcpy(&v, mb + ea, n);                                     \
		acc = R(1) = conv;                                                \
		NEXT(5);                                                    \
	}
	LDF(LD32, 4, uint32_t, v)
	LDF(LD64, 8, uint64_t, v)
	LDF(LD8S32, 1, int8_t, (uint32_t)(int32_t)v)
	LDF(LD8U, 1, uint8_t, v)
	LDF(LD16S32, 2, int16_t, (uint32_t)(int32_t)v)
	LDF(LD16U, 2, uint16_t, v)
	LDF(LD8S64, 1, int8_t, (uint64_t)(int64_t)v)
	LDF(LD16S64, 2, int16_t, (uint64_t)(int64_t)v)
	LDF(LD32S64, 4, int32_t, (uint64_t)(int64_t)v)
	/* stores: (a, b or imm, value, offset) */
#define EASI(n)                                                             \
	uint64_t ea = (uint64_t)(uint32_t)(U32(1) + pc[2]) + pc[4];         \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
#define EASR(n)                                                             \
	uint64_t ea = (uint64_t)(uint32_t)(U32(1) + U32(2)) + pc[4];        \
	if (__builtin_expect(ea + (n) > ms, 0))                             \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
#define STF(name, n, T)                                                     \
	L_##name##_I:                                                       \
	{                                                                   \
		EASI(n);                                                    \
		T v = (T)R(3);                                              \
		memcpy(mb + ea, &v, n);                                     \
		NEXT(5);                                                    \
	}                                                                   \
	L_##name##_R:                                                       \
	{                                                                   \
		EASR(n);                                                    \
		T v = (T)R(3);                                              \
		memcpy(mb + ea, &v, n);                                     \
		NEXT(5);                                                    \
	}
	STF(ST8, 1, uint8_t)
	STF(ST16, 2, uint16_t)
	STF(ST32, 4, uint32_t)
	STF(ST64, 8, uint64_t)
L_MEMORY_SIZE:
	acc = R(1) = (uint32_t)(ms / BT_WASM_PAGE_SIZE);
	NEXT(2);
L_MEMORY_GROW: {
	uint32_t old;

	if (bt__wasm_mem_grow(ci->mem, U32(2), &old) == 0)
		acc = R(1) = old;
	else
		acc = R(1) = UINT32_MAX;
	RELOAD_MEM();
	NEXT(3);
}
L_MEMORY_FILL: {
	uint64_t d = U32(1), n = U32(3);

	if (d + n > ms)
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	memset(mb + d, (int)(uint8_t)R(2), n);
	NEXT(4);
}
L_MEMORY_COPY: {
	uint64_t d = U32(1), s = U32(2), n = U32(3);

	if (d + n > ms || s + n > ms)
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	memmove(mb + d, mb + s, n);
	NEXT(4);
}
L_MEMORY_INIT: {
	const struct wdata *seg = &ci->mod->datas[pc[1]];
	uint64_t len = ci->data_dropped[pc[1]] ? 0 : seg->len;
	uint64_t d = U32(2), s = U32(3), n = U32(4);

	if (d + n > ms || s + n > len)
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	if (n)
		memcpy(mb + d, seg->bytes + s, n);
	NEXT(5);
}
L_DATA_DROP:
	ci->data_dropped[pc[1]] = 1;
	NEXT(2);

	/* ---- tables and references ---- */
L_TABLE_GET: {
	struct wtable *t = ci->tables[pc[2]];
	uint32_t i = U32(3);

	if (i >= t->size)
		TRAP(BT_WASM_TRAP_TABLE_OOB);
	acc = R(1) = (uint64_t)(uintptr_t)t->elems[i];
	NEXT(4);
}
L_TABLE_SET: {
	struct wtable *t = ci->tables[pc[1]];
	uint32_t i = U32(2);

	if (i >= t->size)
		TRAP(BT_WASM_TRAP_TABLE_OOB);
	t->elems[i] = (void *)(uintptr_t)R(3);
	NEXT(4);
}
L_TABLE_SIZE:
	acc = R(1) = ci->tables[pc[2]]->size;
	NEXT(3);
L_TABLE_GROW: {
	uint32_t old;

	if (bt__wasm_table_grow(ci->tables[pc[2]], U32(4),
		(void *)(uintptr_t)R(3), &old) == 0)
		acc = R(1) = old;
	else
		acc = R(1) = UINT32_MAX;
	NEXT(5);
}
L_TABLE_FILL: {
	struct wtable *t = ci->tables[pc[1]];
	uint64_t i = U32(2), n = U32(4);
	void *v = (void *)(uintptr_t)R(3);

	if (i + n > t->size)
		TRAP(BT_WASM_TRAP_TABLE_OOB);
	for (uint64_t k = 0; k < n; k++)
		t->elems[i + k] = v;
	NEXT(5);
}
L_TABLE_COPY: {
	struct wtable *dt = ci->tables[pc[1]], *st = ci->tables[pc[2]];
	uint64_t d = U32(3), s = U32(4), n = U32(5);

	if (d + n > dt->size || s + n > st->size)
		TRAP(BT_WASM_TRAP_TABLE_OOB);
	memmove(dt->elems + d, st->elems + s, n * sizeof(void *));
	NEXT(6);
}
L_TABLE_INIT: {
	struct wtable *t = ci->tables[pc[1]];
	const struct welem *seg = &ci->mod->elems[pc[2]];
	uint64_t len = ci->elem_dropped[pc[2]] ? 0 : seg->n;
	uint64_t d = U32(3), s = U32(4), n = U32(5);

	if (d + n > t->size || s + n > len)
		TRAP(BT_WASM_TRAP_TABLE_OOB);
	for (uint64_t k = 0; k < n; k++) {
		const struct wconst *e = &seg->items[s + k];
		void *v = NULL;

		if (e->op == CE_REF_FUNC)
			v = ci->funcs[e->idx];
		else if (e->op == CE_GLOBAL)
			v = (void *)(uintptr_t)ci->globals[e->idx]->val;
		t->elems[d + k] = v;
	}
	NEXT(6);
}
L_ELEM_DROP:
	ci->elem_dropped[pc[1]] = 1;
	NEXT(2);
L_REF_FUNC:
	acc = R(1) = (uint64_t)(uintptr_t)ci->funcs[pc[2]];
	NEXT(3);
L_REF_IS_NULL:
	acc = R(1) = R(2) == 0;
	NEXT(3);

	/* ---- integer arithmetic ---- */
#define BIN(name, expr)                                                     \
	L_##name:                                                           \
	{                                                                   \
		acc = R(1) = (expr);                                              \
		NEXT(4);                                                    \
	}
#define UN(name, expr)                                                      \
	L_##name:                                                           \
	{                                                                   \
		acc = R(1) = (expr);                                              \
		NEXT(3);                                                    \
	}
	/* f64 results also stay in facc, where the f64 acc variants read
	 * them without a trip through a general register (fuse.c, trick 19
	 * makes sure the instruction before such a variant set facc) */
#define FOP(name, n, dexpr)                                                 \
	L_##name:                                                           \
	{                                                                   \
		double r_ = (dexpr);                                        \
		facc = r_;                                                  \
		acc = R(1) = f64b(r_);                                      \
		NEXT(n);                                                    \
	}
#define FBIN(name, dexpr) FOP(name, 4, dexpr)
#define FUN(name, dexpr) FOP(name, 3, dexpr)
	BIN(I32_EQ, U32(2) == U32(3))
	BIN(I32_NE, U32(2) != U32(3))
	BIN(I32_LT_S, S32(2) < S32(3))
	BIN(I32_LT_U, U32(2) < U32(3))
	BIN(I32_GT_S, S32(2) > S32(3))
	BIN(I32_GT_U, U32(2) > U32(3))
	BIN(I32_LE_S, S32(2) <= S32(3))
	BIN(I32_LE_U, U32(2) <= U32(3))
	BIN(I32_GE_S, S32(2) >= S32(3))
	BIN(I32_GE_U, U32(2) >= U32(3))
	BIN(I32_ADD, (uint32_t)(U32(2) + U32(3)))
	BIN(I32_SUB, (uint32_t)(U32(2) - U32(3)))
	BIN(I32_MUL, (uint32_t)(U32(2) * U32(3)))
	BIN(I32_AND, U32(2) & U32(3))
	BIN(I32_OR, U32(2) | U32(3))
	BIN(I32_XOR, U32(2) ^ U32(3))
	BIN(I32_SHL, (uint32_t)(U32(2) << (U32(3) & 31)))
	BIN(I32_SHR_S, (uint32_t)(S32(2) >> (U32(3) & 31)))
	BIN(I32_SHR_U, U32(2) >> (U32(3) & 31))
	BIN(I32_ROTL, rotl32(U32(2), U32(3)))
	BIN(I32_ROTR, rotr32(U32(2), U32(3)))
L_I32_DIV_S: {
	int32_t a = S32(2), b = S32(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	if (a == INT32_MIN && b == -1)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint32_t)(a / b);
	NEXT(4);
}
L_I32_DIV_U: {
	uint32_t a = U32(2), b = U32(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = a / b;
	NEXT(4);
}
L_I32_REM_S: {
	int32_t a = S32(2), b = S32(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = b == -1 ? 0 : (uint32_t)(a % b);
	NEXT(4);
}
L_I32_REM_U: {
	uint32_t a = U32(2), b = U32(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = a % b;
	NEXT(4);
}
	UN(I32_EQZ, U32(2) == 0)
	UN(I32_CLZ, U32(2) ? (uint32_t)__builtin_clz(U32(2)) : 32)
	UN(I32_CTZ, U32(2) ? (uint32_t)__builtin_ctz(U32(2)) : 32)
	UN(I32_POPCNT, (uint32_t)__builtin_popcount(U32(2)))
	UN(I32_EXTEND8_S, (uint32_t)(int32_t)(int8_t)U32(2))
	UN(I32_EXTEND16_S, (uint32_t)(int32_t)(int16_t)U32(2))

	BIN(I64_EQ, U64(2) == U64(3))
	BIN(I64_NE, U64(2) != U64(3))
	BIN(I64_LT_S, S64(2) < S64(3))
	BIN(I64_LT_U, U64(2) < U64(3))
	BIN(I64_GT_S, S64(2) > S64(3))
	BIN(I64_GT_U, U64(2) > U64(3))
	BIN(I64_LE_S, S64(2) <= S64(3))
	BIN(I64_LE_U, U64(2) <= U64(3))
	BIN(I64_GE_S, S64(2) >= S64(3))
	BIN(I64_GE_U, U64(2) >= U64(3))
	BIN(I64_ADD, U64(2) + U64(3))
	BIN(I64_SUB, U64(2) - U64(3))
	BIN(I64_MUL, U64(2) * U64(3))
	BIN(I64_AND, U64(2) & U64(3))
	BIN(I64_OR, U64(2) | U64(3))
	BIN(I64_XOR, U64(2) ^ U64(3))
	BIN(I64_SHL, U64(2) << (U64(3) & 63))
	BIN(I64_SHR_S, (uint64_t)(S64(2) >> (U64(3) & 63)))
	BIN(I64_SHR_U, U64(2) >> (U64(3) & 63))
	BIN(I64_ROTL, rotl64(U64(2), U64(3)))
	BIN(I64_ROTR, rotr64(U64(2), U64(3)))
L_I64_DIV_S: {
	int64_t a = S64(2), b = S64(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	if (a == INT64_MIN && b == -1)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint64_t)(a / b);
	NEXT(4);
}
L_I64_DIV_U: {
	uint64_t a = U64(2), b = U64(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = a / b;
	NEXT(4);
}
L_I64_REM_S: {
	int64_t a = S64(2), b = S64(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = b == -1 ? 0 : (uint64_t)(a % b);
	NEXT(4);
}
L_I64_REM_U: {
	uint64_t a = U64(2), b = U64(3);
	if (b == 0)
		TRAP(BT_WASM_TRAP_DIV_ZERO);
	acc = R(1) = a % b;
	NEXT(4);
}
	UN(I64_EQZ, U64(2) == 0)
	UN(I64_CLZ, U64(2) ? (uint64_t)__builtin_clzll(U64(2)) : 64)
	UN(I64_CTZ, U64(2) ? (uint64_t)__builtin_ctzll(U64(2)) : 64)
	UN(I64_POPCNT, (uint64_t)__builtin_popcountll(U64(2)))
	UN(I64_EXTEND8_S, (uint64_t)(int64_t)(int8_t)U64(2))
	UN(I64_EXTEND16_S, (uint64_t)(int64_t)(int16_t)U64(2))
	UN(I64_EXTEND32_S, (uint64_t)(int64_t)(int32_t)U64(2))

	/* immediate forms: operand 3 is the constant */
	BIN(I32_ADD_I, (uint32_t)(U32(2) + IMM32))
	BIN(I32_SUB_I, (uint32_t)(U32(2) - IMM32))
	BIN(I32_MUL_I, (uint32_t)(U32(2) * IMM32))
	BIN(I32_AND_I, U32(2) & IMM32)
	BIN(I32_OR_I, U32(2) | IMM32)
	BIN(I32_XOR_I, U32(2) ^ IMM32)
	BIN(I32_SHL_I, (uint32_t)(U32(2) << (IMM32 & 31)))
	BIN(I32_SHR_S_I, (uint32_t)(S32(2) >> (IMM32 & 31)))
	BIN(I32_SHR_U_I, U32(2) >> (IMM32 & 31))
	BIN(I32_EQ_I, U32(2) == IMM32)
	BIN(I32_NE_I, U32(2) != IMM32)
	BIN(I32_LT_S_I, S32(2) < (int32_t)IMM32)
	BIN(I32_LT_U_I, U32(2) < IMM32)
	BIN(I32_GT_S_I, S32(2) > (int32_t)IMM32)
	BIN(I32_GT_U_I, U32(2) > IMM32)
	BIN(I32_LE_S_I, S32(2) <= (int32_t)IMM32)
	BIN(I32_LE_U_I, U32(2) <= IMM32)
	BIN(I32_GE_S_I, S32(2) >= (int32_t)IMM32)
	BIN(I32_GE_U_I, U32(2) >= IMM32)
	BIN(I32_ROTL_I, rotl32(U32(2), IMM32))
	BIN(I32_ROTR_I, rotr32(U32(2), IMM32))
	BIN(I64_ROTL_I, rotl64(U64(2), (uint64_t)SIMM))
	BIN(I64_ROTR_I, rotr64(U64(2), (uint64_t)SIMM))
	BIN(I64_ADD_I, U64(2) + (uint64_t)SIMM)
	BIN(I64_SUB_I, U64(2) - (uint64_t)SIMM)
	BIN(I64_MUL_I, U64(2) * (uint64_t)SIMM)
	BIN(I64_AND_I, U64(2) & (uint64_t)SIMM)
	BIN(I64_OR_I, U64(2) | (uint64_t)SIMM)
	BIN(I64_XOR_I, U64(2) ^ (uint64_t)SIMM)
	BIN(I64_SHL_I, U64(2) << (SIMM & 63))
	BIN(I64_SHR_S_I, (uint64_t)(S64(2) >> (SIMM & 63)))
	BIN(I64_SHR_U_I, U64(2) >> (SIMM & 63))
	BIN(I64_EQ_I, U64(2) == (uint64_t)SIMM)
	BIN(I64_NE_I, U64(2) != (uint64_t)SIMM)
	BIN(I64_LT_S_I, S64(2) < SIMM)
	BIN(I64_LT_U_I, U64(2) < (uint64_t)SIMM)
	BIN(I64_GT_S_I, S64(2) > SIMM)
	BIN(I64_GT_U_I, U64(2) > (uint64_t)SIMM)
	BIN(I64_LE_S_I, S64(2) <= SIMM)
	BIN(I64_LE_U_I, U64(2) <= (uint64_t)SIMM)
	BIN(I64_GE_S_I, S64(2) >= SIMM)
	BIN(I64_GE_U_I, U64(2) >= (uint64_t)SIMM)

	/* fused compare and branch: (a, b or imm, offset) */
#define BRC(name, cond)                                                     \
	L_##name:                                                           \
	if (cond)                                                           \
		JUMP(pc + 3);                                               \
	NEXT(4);
#define A1U U32(1)
#define A1S S32(1)
#define B2U U32(2)
#define B2S S32(2)
#define I2U (pc[2])
#define I2S ((int32_t)pc[2])
	BRC(BR_I32_EQ, A1U == B2U)
	BRC(BR_I32_NE, A1U != B2U)
	BRC(BR_I32_LT_S, A1S < B2S)
	BRC(BR_I32_LT_U, A1U < B2U)
	BRC(BR_I32_GT_S, A1S > B2S)
	BRC(BR_I32_GT_U, A1U > B2U)
	BRC(BR_I32_LE_S, A1S <= B2S)
	BRC(BR_I32_LE_U, A1U <= B2U)
	BRC(BR_I32_GE_S, A1S >= B2S)
	BRC(BR_I32_GE_U, A1U >= B2U)
	BRC(BR_I32_EQ_I, A1U == I2U)
	BRC(BR_I32_NE_I, A1U != I2U)
	BRC(BR_I32_LT_S_I, A1S < I2S)
	BRC(BR_I32_LT_U_I, A1U < I2U)
	BRC(BR_I32_GT_S_I, A1S > I2S)
	BRC(BR_I32_GT_U_I, A1U > I2U)
	BRC(BR_I32_LE_S_I, A1S <= I2S)
	BRC(BR_I32_LE_U_I, A1U <= I2U)
	BRC(BR_I32_GE_S_I, A1S >= I2S)
	BRC(BR_I32_GE_U_I, A1U >= I2U)
#define A1L U64(1)
#define A1LS S64(1)
#define B2L U64(2)
#define B2LS S64(2)
#define I2L ((uint64_t)(int64_t)(int32_t)pc[2])
#define I2LS ((int64_t)(int32_t)pc[2])
	BRC(BR_I64_EQ, A1L == B2L)
	BRC(BR_I64_NE, A1L != B2L)
	BRC(BR_I64_LT_S, A1LS < B2LS)
	BRC(BR_I64_LT_U, A1L < B2L)
	BRC(BR_I64_GT_S, A1LS > B2LS)
	BRC(BR_I64_GT_U, A1L > B2L)
	BRC(BR_I64_LE_S, A1LS <= B2LS)
	BRC(BR_I64_LE_U, A1L <= B2L)
	BRC(BR_I64_GE_S, A1LS >= B2LS)
	BRC(BR_I64_GE_U, A1L >= B2L)
	BRC(BR_I64_EQ_I, A1L == I2L)
	BRC(BR_I64_NE_I, A1L != I2L)
	BRC(BR_I64_LT_S_I, A1LS < I2LS)
	BRC(BR_I64_LT_U_I, A1L < I2L)
	BRC(BR_I64_GT_S_I, A1LS > I2LS)
	BRC(BR_I64_GT_U_I, A1L > I2L)
	BRC(BR_I64_LE_S_I, A1LS <= I2LS)
	BRC(BR_I64_LE_U_I, A1L <= I2L)
	BRC(BR_I64_GE_S_I, A1LS >= I2LS)
	BRC(BR_I64_GE_U_I, A1L >= I2L)

	/* ---- floating point ---- */
#define F2(i) f32v(R(i))
#define D2(i) f64v(R(i))
	BIN(F32_EQ, F2(2) == F2(3))
	BIN(F32_NE, F2(2) != F2(3))
	BIN(F32_LT, F2(2) < F2(3))
	BIN(F32_GT, F2(2) > F2(3))
	BIN(F32_LE, F2(2) <= F2(3))
	BIN(F32_GE, F2(2) >= F2(3))
	BIN(F32_ADD, f32b(F2(2) + F2(3)))
	BIN(F32_SUB, f32b(F2(2) - F2(3)))
	BIN(F32_MUL, f32b(F2(2) * F2(3)))
	BIN(F32_DIV, f32b(F2(2) / F2(3)))
	BIN(F32_MIN, f32b(fminf_wasm(F2(2), F2(3))))
	BIN(F32_MAX, f32b(fmaxf_wasm(F2(2), F2(3))))
	BIN(F32_COPYSIGN,
	    (U32(2) & 0x7fffffffu) | (U32(3) & 0x80000000u))
	UN(F32_ABS, U32(2) & 0x7fffffffu)
	UN(F32_NEG, U32(2) ^ 0x80000000u)
	UN(F32_CEIL, f32b(quietf(F2(2), ceilf(F2(2)))))
	UN(F32_FLOOR, f32b(quietf(F2(2), floorf(F2(2)))))
	UN(F32_TRUNC, f32b(quietf(F2(2), truncf(F2(2)))))
	UN(F32_NEAREST, f32b(quietf(F2(2), nearbyintf(F2(2)))))
	UN(F32_SQRT, f32b(sqrtf(F2(2))))
	BIN(F64_EQ, D2(2) == D2(3))
	BIN(F64_NE, D2(2) != D2(3))
	BIN(F64_LT, D2(2) < D2(3))
	BIN(F64_GT, D2(2) > D2(3))
	BIN(F64_LE, D2(2) <= D2(3))
	BIN(F64_GE, D2(2) >= D2(3))
	FBIN(F64_ADD, D2(2) + D2(3))
	FBIN(F64_SUB, D2(2) - D2(3))
	FBIN(F64_MUL, D2(2) * D2(3))
	FBIN(F64_DIV, D2(2) / D2(3))
	BIN(F64_MIN, f64b(fmin_wasm(D2(2), D2(3))))
	BIN(F64_MAX, f64b(fmax_wasm(D2(2), D2(3))))
	BIN(F64_COPYSIGN, (U64(2) & 0x7fffffffffffffffull) |
		(U64(3) & 0x8000000000000000ull))
	UN(F64_ABS, U64(2) & 0x7fffffffffffffffull)
	UN(F64_NEG, U64(2) ^ 0x8000000000000000ull)
	UN(F64_CEIL, f64b(quiet(D2(2), ceil(D2(2)))))
	UN(F64_FLOOR, f64b(quiet(D2(2), floor(D2(2)))))
	UN(F64_TRUNC, f64b(quiet(D2(2), trunc(D2(2)))))
	UN(F64_NEAREST, f64b(quiet(D2(2), nearbyint(D2(2)))))
	FUN(F64_SQRT, sqrt(D2(2)))

	/* accumulator forms: one operand is the previous instruction's
	 * result, taken from acc instead of its slot (code.c, trick 4) */
L_I32_ADD_A:
	acc = R(1) = (uint32_t)((uint32_t)acc + U32(3));
	NEXT(4);
L_I32_ADD_B:
	acc = R(1) = (uint32_t)(U32(2) + (uint32_t)acc);
	NEXT(4);
L_I32_SUB_A:
	acc = R(1) = (uint32_t)((uint32_t)acc - U32(3));
	NEXT(4);
L_I32_SUB_B:
	acc = R(1) = (uint32_t)(U32(2) - (uint32_t)acc);
	NEXT(4);
L_I32_MUL_A:
	acc = R(1) = (uint32_t)((uint32_t)acc * U32(3));
	NEXT(4);
L_I32_MUL_B:
	acc = R(1) = (uint32_t)(U32(2) * (uint32_t)acc);
	NEXT(4);
L_I32_AND_A:
	acc = R(1) = (uint32_t)acc & U32(3);
	NEXT(4);
L_I32_AND_B:
	acc = R(1) = U32(2) & (uint32_t)acc;
	NEXT(4);
L_I32_OR_A:
	acc = R(1) = (uint32_t)acc | U32(3);
	NEXT(4);
L_I32_OR_B:
	acc = R(1) = U32(2) | (uint32_t)acc;
	NEXT(4);
L_I32_XOR_A:
	acc = R(1) = (uint32_t)acc ^ U32(3);
	NEXT(4);
L_I32_XOR_B:
	acc = R(1) = U32(2) ^ (uint32_t)acc;
	NEXT(4);
L_I32_SHL_A:
	acc = R(1) = (uint32_t)((uint32_t)acc << (U32(3) & 31));
	NEXT(4);
L_I32_SHL_B:
	acc = R(1) = (uint32_t)(U32(2) << (acc & 31));
	NEXT(4);
L_I32_SHR_U_A:
	acc = R(1) = (uint32_t)acc >> (U32(3) & 31);
	NEXT(4);
L_I32_SHR_U_B:
	acc = R(1) = U32(2) >> (acc & 31);
	NEXT(4);
L_I32_SHR_S_A:
	acc = R(1) = (uint32_t)((int32_t)(uint32_t)acc >> (U32(3) & 31));
	NEXT(4);
L_I32_SHR_S_B:
	acc = R(1) = (uint32_t)(S32(2) >> (acc & 31));
	NEXT(4);
L_I64_ADD_A:
	acc = R(1) = acc + U64(3);
	NEXT(4);
L_I64_ADD_B:
	acc = R(1) = U64(2) + acc;
	NEXT(4);
L_I64_SUB_A:
	acc = R(1) = acc - U64(3);
	NEXT(4);
L_I64_SUB_B:
	acc = R(1) = U64(2) - acc;
	NEXT(4);
L_I64_MUL_A:
	acc = R(1) = acc * U64(3);
	NEXT(4);
L_I64_MUL_B:
	acc = R(1) = U64(2) * acc;
	NEXT(4);
L_I64_AND_A:
	acc = R(1) = acc & U64(3);
	NEXT(4);
L_I64_AND_B:
	acc = R(1) = U64(2) & acc;
	NEXT(4);
L_I64_OR_A:
	acc = R(1) = acc | U64(3);
	NEXT(4);
L_I64_OR_B:
	acc = R(1) = U64(2) | acc;
	NEXT(4);
L_I64_XOR_A:
	acc = R(1) = acc ^ U64(3);
	NEXT(4);
L_I64_XOR_B:
	acc = R(1) = U64(2) ^ acc;
	NEXT(4);
	FBIN(F64_ADD_A, facc + D2(3))
	FBIN(F64_ADD_B, D2(2) + facc)
	FBIN(F64_SUB_A, facc - D2(3))
	FBIN(F64_SUB_B, D2(2) - facc)
	FBIN(F64_MUL_A, facc * D2(3))
	FBIN(F64_MUL_B, D2(2) * facc)
	FBIN(F64_DIV_A, facc / D2(3))
	FBIN(F64_DIV_B, D2(2) / facc)
L_F32_ADD_A:
	acc = R(1) = f32b(f32v(acc) + F2(3));
	NEXT(4);
L_F32_ADD_B:
	acc = R(1) = f32b(F2(2) + f32v(acc));
	NEXT(4);
L_F32_SUB_A:
	acc = R(1) = f32b(f32v(acc) - F2(3));
	NEXT(4);
L_F32_SUB_B:
	acc = R(1) = f32b(F2(2) - f32v(acc));
	NEXT(4);
L_F32_MUL_A:
	acc = R(1) = f32b(f32v(acc) * F2(3));
	NEXT(4);
L_F32_MUL_B:
	acc = R(1) = f32b(F2(2) * f32v(acc));
	NEXT(4);
L_I32_ADD_I_A:
	acc = R(1) = (uint32_t)((uint32_t)acc + IMM32);
	NEXT(4);
L_I32_AND_I_A:
	acc = R(1) = (uint32_t)acc & IMM32;
	NEXT(4);
L_I32_XOR_I_A:
	acc = R(1) = (uint32_t)acc ^ IMM32;
	NEXT(4);
L_I32_SHL_I_A:
	acc = R(1) = (uint32_t)((uint32_t)acc << (IMM32 & 31));
	NEXT(4);
L_I32_SHR_U_I_A:
	acc = R(1) = (uint32_t)acc >> (IMM32 & 31);
	NEXT(4);
L_I32_SHR_S_I_A:
	acc = R(1) = (uint32_t)((int32_t)(uint32_t)acc >> (IMM32 & 31));
	NEXT(4);
L_I32_ROTL_I_A:
	acc = R(1) = rotl32((uint32_t)acc, IMM32);
	NEXT(4);
L_I64_ADD_I_A:
	acc = R(1) = acc + (uint64_t)SIMM;
	NEXT(4);
L_I64_AND_I_A:
	acc = R(1) = acc & (uint64_t)SIMM;
	NEXT(4);
L_I64_SHL_I_A:
	acc = R(1) = acc << (SIMM & 63);
	NEXT(4);
L_I64_SHR_U_I_A:
	acc = R(1) = acc >> (SIMM & 63);
	NEXT(4);
L_LD32_A: {
	uint64_t ea = (uint64_t)(uint32_t)acc + pc[3];
	if (__builtin_expect(ea + 4 > ms, 0))
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	uint32_t v;
	memcpy(&v, mb + ea, 4);
	acc = R(1) = v;
	NEXT(4);
}
L_LD64_A: {
	uint64_t ea = (uint64_t)(uint32_t)acc + pc[3];
	if (__builtin_expect(ea + 8 > ms, 0))
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	uint64_t v;
	memcpy(&v, mb + ea, 8);
	acc = R(1) = v;
	NEXT(4);
}
L_ST32_V: {
	EAS(4);
	uint32_t v = (uint32_t)acc;
	memcpy(mb + ea, &v, 4);
	NEXT(4);
}
L_ST64_V: {
	EAS(8);
	uint64_t v = acc;
	memcpy(mb + ea, &v, 8);
	NEXT(4);
}

	/* x + acc, then acc + o (d1, x, d2, o): one value added to two
	 * (code.c, trick 24); acc is read once, before either write */
L_I32_ADD2_A: {
	uint32_t v_ = (uint32_t)acc;

	R(1) = (uint32_t)(U32(2) + v_);
	acc = R(3) = (uint32_t)(v_ + U32(4));
	NEXT(5);
}
	/* a + b + c (dst, a, b, c) */
L_I32_ADD3:
	acc = R(1) = (uint32_t)(U32(2) + U32(3) + U32(4));
	NEXT(5);
	/* a + b + (p & q) (dst, a, b, p, q) */
	/* x + rot3x(v) + (p & q) (d, x, v, i, j, k, p, q) (trick 26) */
L_I32_ROT3X_ADD3_AND: {
	uint32_t v_ = U32(3);

	acc = R(1) = (uint32_t)(U32(2) + (rotl32(v_, (uint32_t)pc[4]) ^
					     rotl32(v_, (uint32_t)pc[5]) ^
					     rotl32(v_, (uint32_t)pc[6])) +
	    (U32(7) & U32(8)));
	NEXT(9);
}
L_I32_ADD3_AND:
	acc = R(1) = (uint32_t)(U32(2) + U32(3) + (U32(4) & U32(5)));
	NEXT(6);
	/* a + (x << k): array indexing (dst, a, x, k) */
L_I32_ADD_SHL:
	acc = R(1) = (uint32_t)(U32(2) + (U32(3) << (pc[4] & 31)));
	NEXT(5);
	/* loads at base + (index << k), wrapped to 32 bits, plus the offset:
	 * (dst, base, index, k, offset) */
#define LDX(name, n, T, conv)                                               \
	L_##name##_X:                                                       \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(2) +                 \
				  (U32(3) << (pc[4] & 31))) + pc[5];        \
		T v;                                                        \
		if (__builtin_expect(ea + (n) > ms, 0))                     \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&v, mb + ea, n);                                     \
		acc = R(1) = conv;                                          \
		NEXT(6);                                                    \
	}
	LDX(LD32, 4, uint32_t, v)
	/* two of them from one base: (d1, base, i1, k, off1, d2, i2, off2),
	 * in order; the second load's code offset is at d2's cell */
L_LD32_X2: {
	uint64_t ea = (uint64_t)(uint32_t)(U32(2) + (U32(3) << (pc[4] & 31))) +
	    pc[5];
	uint32_t v;

	if (__builtin_expect(ea + 4 > ms, 0))
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	memcpy(&v, mb + ea, 4);
	R(1) = v;
	ea = (uint64_t)(uint32_t)(U32(2) + (U32(7) << (pc[4] & 31))) + pc[8];
	if (__builtin_expect(ea + 4 > ms, 0)) {
		pc += 6;
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	}
	memcpy(&v, mb + ea, 4);
	acc = R(6) = v;
	NEXT(9);
}
	/* LD32_X2 (d1 .. d2 ..) and the select of the two values just after
	 * it (SEL_I32_xx d d1 d2 k d1 d2: min, max, a merge's step), left
	 * in place as two instructions with the first one's handler
	 * replaced (fuse.c, trick 21): the select uses the loaded values
	 * without reading them back; a jump to the select runs it alone */
#define LDX2SEL(name, T, op_, store)                                        \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(2) +                 \
				  (U32(3) << (pc[4] & 31))) + pc[5];        \
		uint32_t v1, v2, k_;                                        \
		if (__builtin_expect(ea + 4 > ms, 0))                       \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&v1, mb + ea, 4);                                    \
		R(1) = v1;                                                  \
		ea = (uint64_t)(uint32_t)(U32(2) +                          \
			 (U32(7) << (pc[4] & 31))) + pc[8];                 \
		if (__builtin_expect(ea + 4 > ms, 0)) {                     \
			pc += 6;                                            \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		}                                                           \
		memcpy(&v2, mb + ea, 4);                                    \
		R(6) = v2;                                                  \
		pc += 9;                                                    \
		k_ = (T)v1 op_ (T)v2;                                       \
		R(4) = k_;                                                  \
		acc = k_ ? v1 : v2;                                         \
		if (store)                                                  \
			R(1) = acc;                                         \
		NEXT(7);                                                    \
	}
#define LDX2SELS(name, T, op_)                                              \
	L_LDX2SEL_I32_##name:                                               \
	LDX2SEL(name, T, op_, 1)                                            \
	L_LDX2SEL_I32_##name##_N:                                           \
	LDX2SEL(name, T, op_, 0)
	LDX2SELS(EQ, uint32_t, ==)
	LDX2SELS(NE, uint32_t, !=)
	LDX2SELS(LT_S, int32_t, <)
	LDX2SELS(LT_U, uint32_t, <)
	LDX2SELS(GT_S, int32_t, >)
	LDX2SELS(GT_U, uint32_t, >)
	LDX2SELS(LE_S, int32_t, <=)
	LDX2SELS(LE_U, uint32_t, <=)
	LDX2SELS(GE_S, int32_t, >=)
	LDX2SELS(GE_U, uint32_t, >=)
	LDX(LD64, 8, uint64_t, v)
	LDX(LD8U, 1, uint8_t, v)
	LDX(LD16S32, 2, int16_t, (uint32_t)(int32_t)v)
	LDX(LD16U, 2, uint16_t, v)

	/* float operations with a constant operand b (its bits in cell 3) */
	BIN(F32_ADD_I, f32b(F2(2) + f32v(pc[3])))
	BIN(F32_SUB_I, f32b(F2(2) - f32v(pc[3])))
	BIN(F32_MUL_I, f32b(F2(2) * f32v(pc[3])))
	BIN(F32_DIV_I, f32b(F2(2) / f32v(pc[3])))
	FBIN(F64_ADD_I, D2(2) + f64v(pc[3]))
	FBIN(F64_SUB_I, D2(2) - f64v(pc[3]))
	FBIN(F64_MUL_I, D2(2) * f64v(pc[3]))
	FBIN(F64_DIV_I, D2(2) / f64v(pc[3]))
	FBIN(F64_ADD_I_A, facc + f64v(pc[3]))
	FBIN(F64_SUB_I_A, facc - f64v(pc[3]))
	FBIN(F64_MUL_I_A, facc * f64v(pc[3]))
	FBIN(F64_DIV_I_A, facc / f64v(pc[3]))
	FUN(F64_SQRT_A, sqrt(facc))

	/* x + a * b and x - a * b, rounding the product first (no fused
	 * multiply-add: exec.c is compiled with -ffp-contract=off):
	 * (dst, x, a, b); the _A forms take x from acc */
	FOP(F64_MULADD, 5, D2(2) + D2(3) * D2(4))
	FOP(F64_MULSUB, 5, D2(2) - D2(3) * D2(4))
	FOP(F64_MULADD_A, 5, facc + D2(3) * D2(4))
	FOP(F64_MULSUB_A, 5, facc - D2(3) * D2(4))

	/* read-modify-write of an f64 in memory (code.c, trick 10):
	 * mem[base + off] = mem[...] -/+ a * b, also into dst:
	 * (dst, base, off, a, b); and mem[base + off] += a: (dst, [a,]
	 * base, off), the _A form with a in acc */
#define EARMW(i)                                                            \
	uint64_t ea = (uint64_t)U32(i) + pc[(i) + 1];                       \
	if (__builtin_expect(ea + 8 > ms, 0))                               \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
L_F64_MULSUB_RMW: {
	EARMW(2);
	uint64_t x;
	double p = D2(4) * D2(5);
	memcpy(&x, mb + ea, 8);
	facc = f64v(x) - p;
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(6);
}
L_F64_MULADD_RMW: {
	EARMW(2);
	uint64_t x;
	double p = D2(4) * D2(5);
	memcpy(&x, mb + ea, 8);
	facc = f64v(x) + p;
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(6);
}
	/* with the address step before them (d, s, k, off, a, b, w): w =
	 * s + k is written first, as the I32_ADD_I did */
#define EARMWI()                                                            \
	uint32_t t_ = (uint32_t)(U32(2) + (uint32_t)pc[3]);                 \
	uint64_t ea = (uint64_t)t_ + pc[4];                                 \
	R(7) = t_;                                                          \
	if (__builtin_expect(ea + 8 > ms, 0))                               \
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
L_F64_MULSUB_RMW_I: {
	EARMWI();
	uint64_t x;
	double p = D2(5) * D2(6);
	memcpy(&x, mb + ea, 8);
	facc = f64v(x) - p;
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(8);
}
L_F64_MULADD_RMW_I: {
	EARMWI();
	uint64_t x;
	double p = D2(5) * D2(6);
	memcpy(&x, mb + ea, 8);
	facc = f64v(x) + p;
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(8);
}
L_F64_ADD_RMW: {
	EARMW(3);
	uint64_t x;
	memcpy(&x, mb + ea, 8);
	facc = D2(2) + f64v(x);
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(5);
}
L_F64_ADD_RMW_A: {
	EARMW(2);
	uint64_t x;
	memcpy(&x, mb + ea, 8);
	facc = f64v(acc) + f64v(x);
	acc = R(1) = f64b(facc);
	memcpy(mb + ea, &acc, 8);
	NEXT(4);
}

	/* products of two loaded values: (dst, base1, imm1, off1, base2,
	 * imm2, off2); a trap in the second load reports the code offset
	 * code.c mapped at cell 5 (trick 11) */
#define MEMMM(name, n, T, expr)                                             \
	L_##name:                                                           \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(2) + pc[3]) + pc[4]; \
		uint64_t eb = (uint64_t)(uint32_t)(U32(5) + pc[6]) + pc[7]; \
		T x, y;                                                     \
		if (__builtin_expect(ea + (n) > ms, 0))                     \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		if (__builtin_expect(eb + (n) > ms, 0)) {                   \
			pc += 5;                                            \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		}                                                           \
		memcpy(&x, mb + ea, n);                                     \
		memcpy(&y, mb + eb, n);                                     \
		acc = R(1) = (expr);                                        \
		NEXT(8);                                                    \
	}
	MEMMM(I32_MUL_MM, 4, uint32_t, (uint32_t)(x * y))
	MEMMM(I32_MUL_MM16S, 2, int16_t,
	    (uint32_t)((uint32_t)(int32_t)x * (uint32_t)(int32_t)y))
	MEMMM(F64_MUL_MM, 8, uint64_t, f64b(facc = f64v(x) * f64v(y)))

	/* c plus k products of loaded values (a dot product's unrolled
	 * step): (dst, c, then k times base1, imm1, off1, base2, imm2,
	 * off2), the products in the order their loads ran; all are checked
	 * before anything is written, and a trap in a load reports the code
	 * offset code.c mapped at that load's first cell (trick 22). */
#define MACT(j, n, T)                                                       \
	{                                                                   \
		uint64_t ea_ = (uint64_t)(uint32_t)(U32(3 + 6 * (j)) +      \
				   pc[4 + 6 * (j)]) + pc[5 + 6 * (j)];     \
		uint64_t eb_ = (uint64_t)(uint32_t)(U32(6 + 6 * (j)) +      \
				   pc[7 + 6 * (j)]) + pc[8 + 6 * (j)];     \
		T x_, y_;                                                   \
		if (__builtin_expect(ea_ + (n) > ms, 0)) {                  \
			pc += (j) ? 3 + 6 * (j) : 0;                        \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		}                                                           \
		if (__builtin_expect(eb_ + (n) > ms, 0)) {                  \
			pc += 6 + 6 * (j);                                  \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		}                                                           \
		memcpy(&x_, mb + ea_, n);                                   \
		memcpy(&y_, mb + eb_, n);                                   \
		s_ += (uint32_t)(int32_t)x_ * (uint32_t)(int32_t)y_;        \
	}
#define MAC(name, k, n, T)                                                  \
	L_##name:                                                           \
	{                                                                   \
		uint32_t s_ = U32(2);                                       \
		MACT(0, n, T)                                               \
		if ((k) > 1)                                                \
			MACT(1, n, T)                                       \
		if ((k) > 2)                                                \
			MACT(2, n, T)                                       \
		if ((k) > 3)                                                \
			MACT(3, n, T)                                       \
		acc = R(1) = s_;                                            \
		NEXT(3 + 6 * (k));                                          \
	}
	MAC(I32_MAC_MM, 1, 4, uint32_t)
	MAC(I32_MAC2_MM, 2, 4, uint32_t)
	MAC(I32_MAC3_MM, 3, 4, uint32_t)
	MAC(I32_MAC4_MM, 4, 4, uint32_t)
	MAC(I32_MAC_MM16S, 1, 2, int16_t)
	MAC(I32_MAC2_MM16S, 2, 2, int16_t)
	MAC(I32_MAC3_MM16S, 3, 2, int16_t)
	MAC(I32_MAC4_MM16S, 4, 2, int16_t)

	/* The same with four products whose first factors share a base
	 * slot and whose second factors share another (a dot product's
	 * rows and columns): (dst, c, base1, base2, then the eight loads'
	 * imm + off in load order, then their imm | off << 32). base + (imm
	 * + off), computed in 64 bits, is the address when base + imm does
	 * not wrap at 32 bits; when it does, that sum is at least 2^32, not
	 * below the memory size, and the slow path computes the wrapped
	 * address from the separate imm and off. A trap in load i reports
	 * the code offset code.c mapped at its cell 5 + i (the first one's
	 * at the start). */
#define DOTL(i, base, n, T, v)                                              \
	{                                                                   \
		uint64_t e_ = (base) + pc[5 + (i)];                         \
		if (__builtin_expect(e_ + (n) > ms, 0)) {                   \
			uint64_t r_ = pc[13 + (i)];                         \
			e_ = (uint64_t)(uint32_t)((base) + (uint32_t)r_) +  \
			    (r_ >> 32);                                     \
			if (e_ + (n) > ms) {                                \
				pc += (i) ? 5 + (i) : 0;                    \
				TRAP(BT_WASM_TRAP_MEMORY_OOB);              \
			}                                                   \
		}                                                           \
		T t_;                                                       \
		memcpy(&t_, mb + e_, n);                                    \
		v = (uint32_t)(int32_t)t_;                                  \
	}
#define DOT4(name, n, T)                                                    \
	L_##name:                                                           \
	{                                                                   \
		uint64_t bx_ = U32(3), by_ = U32(4);                        \
		uint32_t x0, y0, x1, y1, x2, y2, x3, y3;                    \
		DOTL(0, bx_, n, T, x0)                                      \
		DOTL(1, by_, n, T, y0)                                      \
		DOTL(2, bx_, n, T, x1)                                      \
		DOTL(3, by_, n, T, y1)                                      \
		DOTL(4, bx_, n, T, x2)                                      \
		DOTL(5, by_, n, T, y2)                                      \
		DOTL(6, bx_, n, T, x3)                                      \
		DOTL(7, by_, n, T, y3)                                      \
		acc = R(1) = (uint32_t)(U32(2) + x0 * y0 + x1 * y1 +        \
		    x2 * y2 + x3 * y3);                                     \
		NEXT(21);                                                   \
	}
	DOT4(I32_DOT4_MM, 4, uint32_t)
	DOT4(I32_DOT4_MM16S, 2, int16_t)

	/* The int16 form whose four first (CX) or second (CY) factors are
	 * the 8 bytes at one address (a row of a matrix): (dst, c, base1,
	 * base2, the contiguous side's lowest imm + off, the other side's
	 * imm + off for each int16 of those 8 bytes in order, then the eight
	 * loads' imm | off << 32 in load order). The fast path reads the
	 * row with one load; when any address is not plainly in bounds
	 * (out of bounds, or base + imm wrapped: see DOT4), the slow path
	 * does the eight loads in order, exactly, and a trap in load i
	 * reports the code offset mapped at its cell 10 + i (the first one's
	 * at the start). */
#define DOT4C(name, cb, ob)                                                 \
	L_##name:                                                           \
	{                                                                   \
		uint64_t bc_ = U32(cb), bo_ = U32(ob);                      \
		uint64_t er_ = bc_ + pc[5], e0_ = bo_ + pc[6];              \
		uint64_t e1_ = bo_ + pc[7], e2_ = bo_ + pc[8];              \
		uint64_t e3_ = bo_ + pc[9], w_;                             \
		int16_t a0_, a1_, a2_, a3_;                                 \
		if (__builtin_expect(er_ + 8 > ms || e0_ + 2 > ms ||        \
			e1_ + 2 > ms || e2_ + 2 > ms || e3_ + 2 > ms, 0))   \
			goto L_##name##_slow;                               \
		memcpy(&w_, mb + er_, 8);                                   \
		memcpy(&a0_, mb + e0_, 2);                                  \
		memcpy(&a1_, mb + e1_, 2);                                  \
		memcpy(&a2_, mb + e2_, 2);                                  \
		memcpy(&a3_, mb + e3_, 2);                                  \
		acc = R(1) = (uint32_t)(U32(2) +                            \
		    (uint32_t)(int32_t)a0_ * (uint32_t)(int32_t)(int16_t)w_ + \
		    (uint32_t)(int32_t)a1_ *                                \
			(uint32_t)(int32_t)(int16_t)(w_ >> 16) +            \
		    (uint32_t)(int32_t)a2_ *                                \
			(uint32_t)(int32_t)(int16_t)(w_ >> 32) +            \
		    (uint32_t)(int32_t)a3_ *                                \
			(uint32_t)(int32_t)(int16_t)(w_ >> 48));            \
		NEXT(18);                                                   \
	}                                                                   \
	L_##name##_slow:                                                    \
	{                                                                   \
		uint32_t v_[8];                                             \
		for (int i_ = 0; i_ < 8; i_++) {                            \
			uint64_t b_ = (i_ & 1) ? U32(4) : U32(3);           \
			uint64_t r_ = pc[10 + i_];                          \
			uint64_t e_ = (uint64_t)(uint32_t)(b_ +             \
					  (uint32_t)r_) + (r_ >> 32);       \
			int16_t t_;                                         \
			if (e_ + 2 > ms) {                                  \
				pc += i_ ? 10 + i_ : 0;                     \
				TRAP(BT_WASM_TRAP_MEMORY_OOB);              \
			}                                                   \
			memcpy(&t_, mb + e_, 2);                            \
			v_[i_] = (uint32_t)(int32_t)t_;                     \
		}                                                           \
		acc = R(1) = (uint32_t)(U32(2) + v_[0] * v_[1] +            \
		    v_[2] * v_[3] + v_[4] * v_[5] + v_[6] * v_[7]);         \
		NEXT(18);                                                   \
	}
	DOT4C(I32_DOT4CX_MM16S, 3, 4)
	DOT4C(I32_DOT4CY_MM16S, 4, 3)

	/* binary operations whose operand b is loaded from memory: (dst, a,
	 * base, imm, offset); the address is (base + imm) wrapped to 32
	 * bits, plus the offset (code.c, trick 6) */
#define MEMB(name, n, T, expr)                                              \
	L_##name:                                                           \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(3) + pc[4]) + pc[5]; \
		uint64_t a = R(2);                                          \
		T m;                                                        \
		if (__builtin_expect(ea + (n) > ms, 0))                     \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&m, mb + ea, n);                                     \
		acc = R(1) = (expr);                                        \
		NEXT(6);                                                    \
	}                                                                   \
	L_##name##_A:                                                       \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(3) + pc[4]) + pc[5]; \
		uint64_t a = acc;                                           \
		T m;                                                        \
		if (__builtin_expect(ea + (n) > ms, 0))                     \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&m, mb + ea, n);                                     \
		acc = R(1) = (expr);                                        \
		NEXT(6);                                                    \
	}
#define MEMBF(name, dexpr, dexpr_a)                                         \
	L_##name:                                                           \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(3) + pc[4]) + pc[5]; \
		uint64_t a = R(2);                                          \
		uint64_t m;                                                 \
		if (__builtin_expect(ea + 8 > ms, 0))                       \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&m, mb + ea, 8);                                     \
		facc = (dexpr);                                             \
		acc = R(1) = f64b(facc);                                    \
		NEXT(6);                                                    \
	}                                                                   \
	L_##name##_A:                                                       \
	{                                                                   \
		uint64_t ea = (uint64_t)(uint32_t)(U32(3) + pc[4]) + pc[5]; \
		uint64_t m;                                                 \
		if (__builtin_expect(ea + 8 > ms, 0))                       \
			TRAP(BT_WASM_TRAP_MEMORY_OOB);                      \
		memcpy(&m, mb + ea, 8);                                     \
		facc = (dexpr_a);                                           \
		acc = R(1) = f64b(facc);                                    \
		NEXT(6);                                                    \
	}
	MEMB(I32_ADD_M, 4, uint32_t, (uint32_t)((uint32_t)a + m))
	MEMB(I32_SUB_M, 4, uint32_t, (uint32_t)((uint32_t)a - m))
	MEMB(I32_MUL_M, 4, uint32_t, (uint32_t)((uint32_t)a * m))
	MEMB(I32_AND_M, 4, uint32_t, (uint32_t)a & m)
	MEMB(I32_OR_M, 4, uint32_t, (uint32_t)a | m)
	MEMB(I32_XOR_M, 4, uint32_t, (uint32_t)a ^ m)
	MEMB(I32_ADD_M16S, 2, int16_t,
	    (uint32_t)((uint32_t)a + (uint32_t)(int32_t)m))
	MEMB(I32_MUL_M16S, 2, int16_t,
	    (uint32_t)((uint32_t)a * (uint32_t)(int32_t)m))
	MEMB(I64_ADD_M, 8, uint64_t, a + m)
	MEMB(I64_SUB_M, 8, uint64_t, a - m)
	MEMB(I64_AND_M, 8, uint64_t, a & m)
	MEMB(I64_OR_M, 8, uint64_t, a | m)
	MEMB(I64_XOR_M, 8, uint64_t, a ^ m)
	MEMB(F32_ADD_M, 4, uint32_t, f32b(f32v(a) + f32v(m)))
	MEMB(F32_SUB_M, 4, uint32_t, f32b(f32v(a) - f32v(m)))
	MEMB(F32_MUL_M, 4, uint32_t, f32b(f32v(a) * f32v(m)))
	MEMB(F32_DIV_M, 4, uint32_t, f32b(f32v(a) / f32v(m)))
	MEMBF(F64_ADD_M, f64v(a) + f64v(m), facc + f64v(m))
	MEMBF(F64_SUB_M, f64v(a) - f64v(m), facc - f64v(m))
	MEMBF(F64_MUL_M, f64v(a) * f64v(m), facc * f64v(m))
	MEMBF(F64_DIV_M, f64v(a) / f64v(m), facc / f64v(m))

	/* No-store twins (fuse.c, trick 19): the same as the plain
	 * handler without the store of the result, for when the next
	 * instruction takes it from acc and its slot is a stack temporary
	 * that nothing else reads. */
#define NS(name, n, expr)                                                   \
	L_##name##_N:                                                       \
	acc = (expr);                                                       \
	NEXT(n);
#define NSF(name, n, dexpr)                                                 \
	L_##name##_N:                                                       \
	{                                                                   \
		double r_ = (dexpr);                                        \
		facc = r_;                                                  \
		acc = f64b(r_);                                             \
		NEXT(n);                                                    \
	}
	NS(I32_ADD, 4, (uint32_t)(U32(2) + U32(3)))
	NS(I32_ADD_A, 4, (uint32_t)((uint32_t)acc + U32(3)))
	NS(I32_ADD_B, 4, (uint32_t)(U32(2) + (uint32_t)acc))
	NS(I32_AND_I_A, 4, (uint32_t)acc & IMM32)
	NS(I32_OR_B, 4, U32(2) | (uint32_t)acc)
	NS(I32_SHL_I, 4, (uint32_t)(U32(2) << (IMM32 & 31)))
	NS(I32_SHR_U_I, 4, U32(2) >> (IMM32 & 31))
	NS(I32_ANDN, 4, U32(2) & ~U32(3))
	NS(I32_ADD3, 5, (uint32_t)(U32(2) + U32(3) + U32(4)))
	NS(I32_ADD3_AND, 6, (uint32_t)(U32(2) + U32(3) + (U32(4) & U32(5))))
	NS(I32_ROT3X_ADD3_AND, 9,
	    (uint32_t)(U32(2) + (rotl32(U32(3), (uint32_t)pc[4]) ^
				    rotl32(U32(3), (uint32_t)pc[5]) ^
				    rotl32(U32(3), (uint32_t)pc[6])) +
		(U32(7) & U32(8))))
L_I32_MAJ_N: {
	uint32_t p_ = U32(3), q_ = U32(4);

	acc = (U32(2) & (p_ ^ q_)) ^ (p_ & q_);
	NEXT(5);
}
L_I32_ROT2SHRX_N: {
	uint32_t x_ = U32(2);

	acc = rotl32(x_, (uint32_t)pc[3]) ^ rotl32(x_, (uint32_t)pc[4]) ^
	    (x_ >> (pc[5] & 31));
	NEXT(6);
}
L_I32_ADD_M_A_N: {
	uint64_t ea = (uint64_t)(uint32_t)(U32(3) + pc[4]) + pc[5];
	uint32_t m;

	if (__builtin_expect(ea + 4 > ms, 0))
		TRAP(BT_WASM_TRAP_MEMORY_OOB);
	memcpy(&m, mb + ea, 4);
	acc = (uint32_t)((uint32_t)acc + m);
	NEXT(6);
}
	NSF(F64_MULADD, 5, D2(2) + D2(3) * D2(4))
	NSF(F64_MULSUB, 5, D2(2) - D2(3) * D2(4))
	NSF(F64_SQRT, 3, sqrt(D2(2)))
	NSF(F64_SQRT_A, 3, sqrt(facc))
	NSF(F64_ADD_B, 4, D2(2) + facc)
	NSF(F64_MUL_B, 4, D2(2) * facc)

	/* ---- conversions ---- */
	UN(I32_WRAP_I64, (uint32_t)U64(2))
	UN(I64_EXTEND_I32_S, (uint64_t)(int64_t)S32(2))
L_I32_TRUNC_F32_S: {
	float x = F2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x < -2147483648.0f || x >= 2147483648.0f)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint32_t)(int32_t)x;
	NEXT(3);
}
L_I32_TRUNC_F32_U: {
	float x = F2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x <= -1.0f || x >= 4294967296.0f)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint32_t)x;
	NEXT(3);
}
L_I32_TRUNC_F64_S: {
	double x = D2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x <= -2147483649.0 || x >= 2147483648.0)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint32_t)(int32_t)x;
	NEXT(3);
}
L_I32_TRUNC_F64_U: {
	double x = D2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x <= -1.0 || x >= 4294967296.0)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint32_t)x;
	NEXT(3);
}
L_I64_TRUNC_F32_S: {
	float x = F2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x < -9223372036854775808.0f || x >= 9223372036854775808.0f)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint64_t)(int64_t)x;
	NEXT(3);
}
L_I64_TRUNC_F32_U: {
	float x = F2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x <= -1.0f || x >= 18446744073709551616.0f)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint64_t)x;
	NEXT(3);
}
L_I64_TRUNC_F64_S: {
	double x = D2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x < -9223372036854775808.0 || x >= 9223372036854775808.0)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint64_t)(int64_t)x;
	NEXT(3);
}
L_I64_TRUNC_F64_U: {
	double x = D2(2);
	if (isnan(x))
		TRAP(BT_WASM_TRAP_INVALID_CONV);
	if (x <= -1.0 || x >= 18446744073709551616.0)
		TRAP(BT_WASM_TRAP_INT_OVERFLOW);
	acc = R(1) = (uint64_t)x;
	NEXT(3);
}
	UN(F32_CONVERT_I32_S, f32b((float)S32(2)))
	UN(F32_CONVERT_I32_U, f32b((float)U32(2)))
	UN(F32_CONVERT_I64_S, f32b((float)S64(2)))
	UN(F32_CONVERT_I64_U, f32b((float)U64(2)))
	UN(F32_DEMOTE_F64, f32b((float)D2(2)))
	FUN(F64_CONVERT_I32_S, (double)S32(2))
	FUN(F64_CONVERT_I32_U, (double)U32(2))
	UN(F64_CONVERT_I64_S, f64b((double)S64(2)))
	UN(F64_CONVERT_I64_U, f64b((double)U64(2)))
	UN(F64_PROMOTE_F32, f64b((double)F2(2)))
	UN(I32_TRUNC_SAT_F32_S, sat_i32((double)F2(2)))
	UN(I32_TRUNC_SAT_F32_U, sat_u32((double)F2(2)))
	UN(I32_TRUNC_SAT_F64_S, sat_i32(D2(2)))
	UN(I32_TRUNC_SAT_F64_U, sat_u32(D2(2)))
	UN(I64_TRUNC_SAT_F32_S, sat_i64f(F2(2)))
	UN(I64_TRUNC_SAT_F32_U, sat_u64f(F2(2)))
	UN(I64_TRUNC_SAT_F64_S, sat_i64(D2(2)))
	UN(I64_TRUNC_SAT_F64_U, sat_u64(D2(2)))

done:
	inst->depth = 0;
	if (inst->lim.fuel != 0 && ticks > 0)
		inst->fuel += (uint64_t)ticks;
	return 0;
exited:
	inst->depth = 0;
	if (inst->lim.fuel != 0 && ticks > 0)
		inst->fuel += (uint64_t)ticks;
	return BT_WASM_EXITED;
trap:
	inst->trap.msg[0] = '\0';
trap_keepmsg:
	bt__wasm_trap_set(inst, tk, fr->func, pc);
	if (inst->trap.resumable) {
		inst->s_pc = pc;
		inst->s_fp = fp;
		inst->s_func = fr->func;
		inst->depth = (uint32_t)(fr - inst->frames);
		inst->suspended = true;
	} else {
		inst->depth = 0;
	}
	if (inst->lim.fuel != 0 && ticks > 0)
		inst->fuel += (uint64_t)ticks;
	return BT_ETRAP;
}
