/*
 * exec_test.c: the interpreter's limits and state (wasm/exec.c,
 * wasm/instance.c): fuel with suspend and resume, the interrupt flag (from
 * another thread), deadlines, call depth, trap details (kind, function
 * index, byte offset), host functions (results, exit, trap), memory growth
 * against the limit, and the cost of instantiating a small module.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bt/wasm.h"
#include "testing.h"

/* The module, assembled with wat2wasm from:

 * (module
 *   (import "env" "exit" (func $exit (param i32)))
 *   (import "env" "fail" (func $fail))
 *   (import "env" "add" (func $add (param i32 i32) (result i32)))
 *   (memory (export "memory") 1 4)
 *   ;; spins forever, counting in memory[0]
 *   (func (export "spin")
 *     (loop $l
 *       (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
 *       (br $l)))
 *   ;; counts to n with a loop; returns n
 *   (func (export "count") (param $n i32) (result i32) (local $i i32)
 *     (block $done
 *       (loop $l
 *         (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br $l)))
 *     (local.get $i))
 *   ;; recursion depth n
 *   (func $rec (export "rec") (param $n i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get $n))
 *       (then (i32.const 0))
 *       (else (i32.add (i32.const 1) (call $rec (i32.sub (local.get $n) (i32.const 1)))))))
 *   (func (export "div") (param i32 i32) (result i32)
 *     (i32.div_s (local.get 0) (local.get 1)))
 *   (func (export "grow") (param i32) (result i32)
 *     (memory.grow (local.get 0)))
 *   (func (export "call_exit") (param i32)
 *     (call $exit (local.get 0))
 *     unreachable)
 *   (func (export "call_fail") (call $fail))
 *   (func (export "call_add") (param i32 i32) (result i32)
 *     (call $add (local.get 0) (local.get 1)))
 *   (func (export "nop"))
 * )
 */
static const uint8_t limits_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x04, 0x60,
	0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
	0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x21, 0x03, 0x03, 0x65, 0x6e, 0x76,
	0x04, 0x65, 0x78, 0x69, 0x74, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x04,
	0x66, 0x61, 0x69, 0x6c, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x61,
	0x64, 0x64, 0x00, 0x02, 0x03, 0x0a, 0x09, 0x01, 0x03, 0x03, 0x02, 0x03,
	0x00, 0x01, 0x02, 0x01, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04, 0x07, 0x55,
	0x0a, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x04, 0x73,
	0x70, 0x69, 0x6e, 0x00, 0x03, 0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00,
	0x04, 0x03, 0x72, 0x65, 0x63, 0x00, 0x05, 0x03, 0x64, 0x69, 0x76, 0x00,
	0x06, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x07, 0x09, 0x63, 0x61, 0x6c,
	0x6c, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x08, 0x09, 0x63, 0x61, 0x6c,
	0x6c, 0x5f, 0x66, 0x61, 0x69, 0x6c, 0x00, 0x09, 0x08, 0x63, 0x61, 0x6c,
	0x6c, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x0a, 0x03, 0x6e, 0x6f, 0x70, 0x00,
	0x0b, 0x0a, 0x71, 0x09, 0x14, 0x00, 0x03, 0x40, 0x41, 0x00, 0x41, 0x00,
	0x28, 0x02, 0x00, 0x41, 0x01, 0x6a, 0x36, 0x02, 0x00, 0x0c, 0x00, 0x0b,
	0x0b, 0x1c, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x20,
	0x00, 0x4f, 0x0d, 0x01, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c,
	0x00, 0x0b, 0x0b, 0x20, 0x01, 0x0b, 0x15, 0x00, 0x20, 0x00, 0x45, 0x04,
	0x7f, 0x41, 0x00, 0x05, 0x41, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10,
	0x05, 0x6a, 0x0b, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6d, 0x0b,
	0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x10,
	0x00, 0x00, 0x0b, 0x04, 0x00, 0x10, 0x01, 0x0b, 0x08, 0x00, 0x20, 0x00,
	0x20, 0x01, 0x10, 0x02, 0x0b, 0x02, 0x00, 0x0b
};

#define DIV_S_OFFSET 0xfa /* byte offset of i32.div_s in limits_wasm */
#define DIV_FUNC     6	  /* function index of "div" (3 imports first) */

static int
host_exit(void *arg, struct bt_wasm_call *call)
{
	return bt_wasm_call_exit(call, (int)(uint32_t)call->args[0]);
}

static int
host_fail(void *arg, struct bt_wasm_call *call)
{
	return bt_wasm_call_trap(call, "no %s here", "luck");
}

static int
host_add(void *arg, struct bt_wasm_call *call)
{
	int *calls = arg;
	uint32_t a = (uint32_t)call->args[0], b = (uint32_t)call->args[1];

	(*calls)++;
	call->results[0] = (uint32_t)(a + b);
	return 0;
}

struct fix {
	bt_wasm_module	 *m;
	bt_wasm_linker	 *l;
	bt_wasm_instance *inst;
	int		  add_calls;
};

static void
fix_new(struct fix *f, const struct bt_wasm_limits *lim)
{
	struct bt_diag d;

	memset(f, 0, sizeof(*f));
	assert_int_equal(bt_wasm_module_new(&f->m, limits_wasm,
			     sizeof(limits_wasm), &d), 0);
	assert_int_equal(bt_wasm_linker_new(&f->l), 0);
	assert_int_equal(bt_wasm_linker_define_func(f->l, "env", "exit", "i",
			     "", host_exit, NULL), 0);
	assert_int_equal(bt_wasm_linker_define_func(f->l, "env", "fail", "",
			     "", host_fail, NULL), 0);
	assert_int_equal(bt_wasm_linker_define_func(f->l, "env", "add", "ii",
			     "i", host_add, &f->add_calls), 0);
	assert_int_equal(bt_wasm_instance_new(&f->inst, f->m, f->l, lim, &d), 0);
}

static void
fix_free(struct fix *f)
{
	bt_wasm_instance_free(f->inst);
	bt_wasm_linker_free(f->l);
	bt_wasm_module_free(f->m);
}

static struct bt_wasm_val
i32(uint32_t v)
{
	struct bt_wasm_val x = { .type = BT_WASM_I32 };

	x.u.i32 = v;
	return x;
}

static void
test_fuel_suspend_resume(void **state)
{
	struct bt_wasm_limits lim = { .fuel = 1000 };
	struct bt_wasm_val arg = i32(100000), res;
	struct bt_wasm_trap t;
	struct fix f;
	int rc, stops = 0;

	fix_new(&f, &lim);
	rc = bt_wasm_instance_call(f.inst, "count", &arg, 1, &res, 1);
	while (rc == BT_ETRAP) {
		bt_wasm_instance_trap(f.inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_FUEL);
		assert_true(t.resumable);
		assert_int_equal(bt_wasm_instance_fuel(f.inst), 0);
		/* A suspended instance refuses new calls. */
		assert_int_equal(bt_wasm_instance_call(f.inst, "nop", NULL, 0,
				     NULL, 0), -EBUSY);
		stops++;
		bt_wasm_instance_set_fuel(f.inst, 1000);
		rc = bt_wasm_instance_resume(f.inst, &res, 1);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(res.type, BT_WASM_I32);
	assert_int_equal(res.u.i32, 100000);
	/* One unit per back-edge: about 100 stops of 1000 units. */
	assert_in_range(stops, 95, 105);
	assert_int_equal(bt_wasm_instance_resume(f.inst, &res, 1), -EINVAL);
	fix_free(&f);
}

static void
test_fuel_exact(void **state)
{
	/* count(n) takes n + 1 back-edges... n loop iterations each end in
	 * one br back; fuel n is enough, n - 1 is not. */
	struct bt_wasm_limits lim = { .fuel = 50 };
	struct bt_wasm_val arg = i32(50), res;
	struct fix f;

	fix_new(&f, &lim);
	assert_int_equal(bt_wasm_instance_call(f.inst, "count", &arg, 1, &res,
			     1), 0);
	assert_int_equal(res.u.i32, 50);
	bt_wasm_instance_set_fuel(f.inst, 49);
	assert_int_equal(bt_wasm_instance_call(f.inst, "count", &arg, 1, &res,
			     1), BT_ETRAP);
	bt_wasm_instance_reset(f.inst);
	assert_int_equal(bt_wasm_instance_call(f.inst, "nop", NULL, 0, NULL, 0),
	    0);
	fix_free(&f);
}

/*
 * Loop latches that code.c fuses into one instruction (a counter step and
 * the br_if that tests it, trick 9):
 * (module
 *   (func (export "down") (param $n i32) (result i32) (local $s i32)
 *     (loop $l
 *       (local.set $s (i32.add (local.get $s) (local.get $n)))
 *       (br_if $l (local.tee $n (i32.add (local.get $n) (i32.const -1)))))
 *     (local.get $s))
 *   (func (export "up") (result i32) (local $i i32) (local $s i32)
 *     (loop $l
 *       (local.set $s (i32.add (local.get $s) (local.get $i)))
 *       (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i)
 *                                                (i32.const 1)))
 *                         (i32.const 100))))
 *     (local.get $s)))
 */
static const uint8_t loops_wasm[] = { 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00,
	0x00, 0x00, 0x01, 0x0a, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00,
	0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07, 0x0d, 0x02, 0x04, 0x64,
	0x6f, 0x77, 0x6e, 0x00, 0x00, 0x02, 0x75, 0x70, 0x00, 0x01, 0x0a, 0x39,
	0x02, 0x19, 0x01, 0x01, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x6a,
	0x21, 0x01, 0x20, 0x00, 0x41, 0x7f, 0x6a, 0x22, 0x00, 0x0d, 0x00, 0x0b,
	0x20, 0x01, 0x0b, 0x1d, 0x01, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20,
	0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x22, 0x00, 0x41,
	0xe4, 0x00, 0x47, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x0b };

/* Runs name(args) with fuel units per resume; returns the result and
 * counts the stops. */
static uint32_t
loops_run(bt_wasm_instance *inst, const char *name, struct bt_wasm_val *args,
    size_t nargs, uint64_t fuel, int *stops)
{
	struct bt_wasm_val res;
	int rc;

	*stops = 0;
	bt_wasm_instance_set_fuel(inst, fuel);
	rc = bt_wasm_instance_call(inst, name, args, nargs, &res, 1);
	while (rc == BT_ETRAP) {
		struct bt_wasm_trap t;

		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_FUEL);
		(*stops)++;
		bt_wasm_instance_set_fuel(inst, fuel);
		rc = bt_wasm_instance_resume(inst, &res, 1);
	}
	assert_int_equal(rc, 0);
	return res.u.i32;
}

static void
test_fuel_fused_loop_latch(void **state)
{
	struct bt_wasm_limits lim = { .fuel = 1 };
	struct bt_wasm_val arg = i32(1000), res;
	bt_wasm_module *m;
	bt_wasm_linker *l;
	bt_wasm_instance *inst;
	struct bt_diag d;
	int stops;

	assert_int_equal(bt_wasm_module_new(&m, loops_wasm, sizeof(loops_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_linker_new(&l), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, l, &lim, &d), 0);
	/* A stop at the latch must not have stepped the counter: resuming
	 * after every back-edge still gives the right sums. */
	assert_int_equal(loops_run(inst, "down", &arg, 1, 1, &stops), 500500);
	/* 999 back-edges, one per run of one unit */
	assert_int_equal(stops, 998);
	assert_int_equal(loops_run(inst, "up", NULL, 0, 7, &stops), 4950);
	assert_int_equal(stops, 99 / 7);
	/* One unit per taken back-edge: n - 1 for down(n), 99 for up. */
	bt_wasm_instance_set_fuel(inst, 999);
	assert_int_equal(bt_wasm_instance_call(inst, "down", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 500500);
	bt_wasm_instance_set_fuel(inst, 998);
	assert_int_equal(bt_wasm_instance_call(inst, "down", &arg, 1, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_reset(inst);
	bt_wasm_instance_set_fuel(inst, 99);
	assert_int_equal(bt_wasm_instance_call(inst, "up", NULL, 0, &res, 1), 0);
	assert_int_equal(res.u.i32, 4950);
	bt_wasm_instance_set_fuel(inst, 98);
	assert_int_equal(bt_wasm_instance_call(inst, "up", NULL, 0, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_free(inst);
	bt_wasm_linker_free(l);
	bt_wasm_module_free(m);
}

/*
 * Loop latches with a second step, steps before a compare-and-branch,
 * f64 read-modify-write with the address step, two indexed loads, a
 * product of two loads with an add between them, and five moves with the
 * loop's back-edge (fuse.c and code.c, tricks 9, 10, 18, 11 and 13),
 * assembled with wat2wasm from:
 *
 * (module
 *   (memory 1)
 *   (func (export "pdown") (param $n i32) (result i32) (local $s i32) (local $p i32)
 *     (loop $l
 *       (local.set $s (i32.add (local.get $s) (i32.xor (local.get $n) (local.get $p))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 3)))
 *       (br_if $l (local.tee $n (i32.add (local.get $n) (i32.const -1)))))
 *     (i32.add (local.get $s) (local.get $p)))
 *   (func (export "pup") (result i32) (local $i i32) (local $s i32) (local $p i32)
 *     (loop $l
 *       (local.set $s (i32.add (local.get $s) (i32.xor (local.get $i) (local.get $p))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 5)))
 *       (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
 *                         (i32.const 100))))
 *     (i32.add (local.get $s) (local.get $p)))
 *   (func (export "scan") (param $n i32) (result i32) (local $i i32) (local $s i32) (local $p i32)
 *     (loop $l
 *       (local.set $s (i32.add (local.get $s) (i32.xor (local.get $i) (local.get $p))))
 *       (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *       (local.set $p (i32.add (local.get $p) (i32.const 4)))
 *       (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
 *     (i32.add (local.get $s) (local.get $p)))
 *   (func (export "rmw") (param $p i32) (param $a f64) (param $b f64) (result i32) (local $t i32)
 *     (f64.store (local.tee $t (i32.add (local.get $p) (i32.const -24)))
 *       (f64.add (f64.load (local.get $t)) (f64.mul (local.get $a) (local.get $b))))
 *     (f64.store (local.tee $t (i32.add (local.get $p) (i32.const -16)))
 *       (f64.sub (f64.load (local.get $t)) (f64.mul (local.get $a) (local.get $b))))
 *     (local.get $t))
 * ;; br_eq, br_ne, br_lt_s, ... br_ge_u: one per i32 compare, e.g.
 *   (func (export "br_eq") (param $a i32) (param $b i32) (result i32) (local $p i32)
 *     (block $t
 *       (local.set $p (i32.add (local.get $a) (i32.const 7)))
 *       (br_if $t (i32.eq (local.get $a) (local.get $b)))
 *       (return (i32.sub (i32.const 0) (local.get $p))))
 *     (local.get $p))
 *   (func (export "ld2") (param $p i32) (param $i i32) (param $j i32) (result i32)
 *     (i32.sub
 *       (i32.load offset=4 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
 *       (i32.load offset=8 (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2))))))
 *   (func (export "mmx") (param $p i32) (param $q i32) (param $r i32) (result i32) (local $t i32)
 *     (i32.mul (i32.load16_s offset=2 (local.get $p))
 *              (i32.load16_s offset=4 (local.tee $t (i32.add (local.get $q) (local.get $r))))))
 *   (func (export "rot5") (param $n i32) (result i32)
 *     (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $t i32)
 *     (local.set $a (i32.const 1)) (local.set $b (i32.const 2)) (local.set $c (i32.const 3))
 *     (local.set $d (i32.const 4)) (local.set $e (i32.const 5))
 *     (block $done
 *       (loop $l
 *         (br_if $done (i32.eqz (local.get $n)))
 *         (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *         (local.set $t (i32.add (local.get $a) (i32.mul (local.get $e) (i32.const 3))))
 *         (local.set $e (local.get $d))
 *         (local.set $d (local.get $c))
 *         (local.set $c (local.get $b))
 *         (local.set $b (local.get $a))
 *         (local.set $a (local.get $t))
 *         (br $l)))
 *     (i32.xor (local.get $a) (i32.xor (local.get $b) (i32.xor (local.get $c)
 *       (i32.xor (local.get $d) (local.get $e))))))
 * )
 */
static const uint8_t latch_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1e, 0x05, 0x60,
	0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7c,
	0x7c, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f,
	0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x12, 0x11, 0x00, 0x01, 0x00, 0x02, 0x03,
	0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x04, 0x04, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x8f, 0x01, 0x11, 0x05, 0x70, 0x64,
	0x6f, 0x77, 0x6e, 0x00, 0x00, 0x03, 0x70, 0x75, 0x70, 0x00, 0x01, 0x04,
	0x73, 0x63, 0x61, 0x6e, 0x00, 0x02, 0x03, 0x72, 0x6d, 0x77, 0x00, 0x03,
	0x05, 0x62, 0x72, 0x5f, 0x65, 0x71, 0x00, 0x04, 0x05, 0x62, 0x72, 0x5f,
	0x6e, 0x65, 0x00, 0x05, 0x07, 0x62, 0x72, 0x5f, 0x6c, 0x74, 0x5f, 0x73,
	0x00, 0x06, 0x07, 0x62, 0x72, 0x5f, 0x6c, 0x74, 0x5f, 0x75, 0x00, 0x07,
	0x07, 0x62, 0x72, 0x5f, 0x67, 0x74, 0x5f, 0x73, 0x00, 0x08, 0x07, 0x62,
	0x72, 0x5f, 0x67, 0x74, 0x5f, 0x75, 0x00, 0x09, 0x07, 0x62, 0x72, 0x5f,
	0x6c, 0x65, 0x5f, 0x73, 0x00, 0x0a, 0x07, 0x62, 0x72, 0x5f, 0x6c, 0x65,
	0x5f, 0x75, 0x00, 0x0b, 0x07, 0x62, 0x72, 0x5f, 0x67, 0x65, 0x5f, 0x73,
	0x00, 0x0c, 0x07, 0x62, 0x72, 0x5f, 0x67, 0x65, 0x5f, 0x75, 0x00, 0x0d,
	0x03, 0x6c, 0x64, 0x32, 0x00, 0x0e, 0x03, 0x6d, 0x6d, 0x78, 0x00, 0x0f,
	0x04, 0x72, 0x6f, 0x74, 0x35, 0x00, 0x10, 0x0a, 0xe4, 0x04, 0x11, 0x26,
	0x01, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x20, 0x02, 0x73,
	0x6a, 0x21, 0x01, 0x20, 0x02, 0x41, 0x03, 0x6a, 0x21, 0x02, 0x20, 0x00,
	0x41, 0x7f, 0x6a, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x20, 0x02,
	0x6a, 0x0b, 0x2a, 0x01, 0x03, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00,
	0x20, 0x02, 0x73, 0x6a, 0x21, 0x01, 0x20, 0x02, 0x41, 0x05, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x22, 0x00, 0x41, 0xe4, 0x00, 0x47,
	0x0d, 0x00, 0x0b, 0x20, 0x01, 0x20, 0x02, 0x6a, 0x0b, 0x2b, 0x01, 0x03,
	0x7f, 0x03, 0x40, 0x20, 0x02, 0x20, 0x01, 0x20, 0x03, 0x73, 0x6a, 0x21,
	0x02, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x03, 0x41, 0x04,
	0x6a, 0x21, 0x03, 0x20, 0x01, 0x20, 0x00, 0x49, 0x0d, 0x00, 0x0b, 0x20,
	0x02, 0x20, 0x03, 0x6a, 0x0b, 0x30, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x41,
	0x68, 0x6a, 0x22, 0x03, 0x20, 0x03, 0x2b, 0x03, 0x00, 0x20, 0x01, 0x20,
	0x02, 0xa2, 0xa0, 0x39, 0x03, 0x00, 0x20, 0x00, 0x41, 0x70, 0x6a, 0x22,
	0x03, 0x20, 0x03, 0x2b, 0x03, 0x00, 0x20, 0x01, 0x20, 0x02, 0xa2, 0xa1,
	0x39, 0x03, 0x00, 0x20, 0x03, 0x0b, 0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40,
	0x20, 0x00, 0x41, 0x07, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x20, 0x01, 0x46,
	0x0d, 0x00, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b,
	0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x20, 0x01, 0x47, 0x0d, 0x00, 0x41, 0x00, 0x20, 0x02,
	0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b, 0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40,
	0x20, 0x00, 0x41, 0x07, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x20, 0x01, 0x48,
	0x0d, 0x00, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b,
	0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x20, 0x01, 0x49, 0x0d, 0x00, 0x41, 0x00, 0x20, 0x02,
	0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b, 0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40,
	0x20, 0x00, 0x41, 0x07, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x20, 0x01, 0x4a,
	0x0d, 0x00, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b,
	0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x20, 0x01, 0x4b, 0x0d, 0x00, 0x41, 0x00, 0x20, 0x02,
	0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b, 0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40,
	0x20, 0x00, 0x41, 0x07, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x20, 0x01, 0x4c,
	0x0d, 0x00, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b,
	0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x20, 0x01, 0x4d, 0x0d, 0x00, 0x41, 0x00, 0x20, 0x02,
	0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b, 0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40,
	0x20, 0x00, 0x41, 0x07, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x20, 0x01, 0x4e,
	0x0d, 0x00, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b,
	0x1d, 0x01, 0x01, 0x7f, 0x02, 0x40, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x21,
	0x02, 0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x00, 0x41, 0x00, 0x20, 0x02,
	0x6b, 0x0f, 0x0b, 0x20, 0x02, 0x0b, 0x19, 0x00, 0x20, 0x00, 0x20, 0x01,
	0x41, 0x02, 0x74, 0x6a, 0x28, 0x02, 0x04, 0x20, 0x00, 0x20, 0x02, 0x41,
	0x02, 0x74, 0x6a, 0x28, 0x02, 0x08, 0x6b, 0x0b, 0x14, 0x01, 0x01, 0x7f,
	0x20, 0x00, 0x2e, 0x01, 0x02, 0x20, 0x01, 0x20, 0x02, 0x6a, 0x22, 0x03,
	0x2e, 0x01, 0x04, 0x6c, 0x0b, 0x58, 0x01, 0x06, 0x7f, 0x41, 0x01, 0x21,
	0x01, 0x41, 0x02, 0x21, 0x02, 0x41, 0x03, 0x21, 0x03, 0x41, 0x04, 0x21,
	0x04, 0x41, 0x05, 0x21, 0x05, 0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x45,
	0x0d, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, 0x20, 0x01, 0x20,
	0x05, 0x41, 0x03, 0x6c, 0x6a, 0x21, 0x06, 0x20, 0x04, 0x21, 0x05, 0x20,
	0x03, 0x21, 0x04, 0x20, 0x02, 0x21, 0x03, 0x20, 0x01, 0x21, 0x02, 0x20,
	0x06, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x20, 0x02, 0x20,
	0x03, 0x20, 0x04, 0x20, 0x05, 0x73, 0x73, 0x73, 0x73, 0x0b
};

static bool
cmp_ref(int k, uint32_t a, uint32_t b)
{
	int32_t sa = (int32_t)a, sb = (int32_t)b;

	switch (k) {
	case 0: return a == b;
	case 1: return a != b;
	case 2: return sa < sb;
	case 3: return a < b;
	case 4: return sa > sb;
	case 5: return a > b;
	case 6: return sa <= sb;
	case 7: return a <= b;
	case 8: return sa >= sb;
	default: return a >= b;
	}
}

/* The cmp_ref index of an i32 compare's name ("lt_s"). */
static int
cmp_index(const char *name)
{
	static const char *const n[] = { "eq", "ne", "lt_s", "lt_u", "gt_s",
		"gt_u", "le_s", "le_u", "ge_s", "ge_u" };

	for (int i = 0; i < 10; i++)
		if (strcmp(n[i], name) == 0)
			return i;
	return -1;
}

static uint32_t
latch_ref(const char *name, uint32_t n)
{
	uint32_t i = 0, s = 0, p = 0;

	if (strcmp(name, "pdown") == 0) {
		do {
			s += n ^ p;
			p += 3;
		} while (--n != 0);
	} else if (strcmp(name, "pup") == 0) {
		do {
			s += i ^ p;
			p += 5;
		} while (++i != 100);
	} else { /* scan */
		do {
			s += i ^ p;
			i++;
			p += 4;
		} while (i < n);
	}
	return s + p;
}


static void
test_fused_latches_and_rmw(void **state)
{
	static const char *const cmps[] = { "br_eq", "br_ne", "br_lt_s",
		"br_lt_u", "br_gt_s", "br_gt_u", "br_le_s", "br_le_u",
		"br_ge_s", "br_ge_u" };
	static const uint32_t vals[] = { 0, 1, 5, 0x7fffffffu, 0x80000000u,
		0xfffffffbu };
	struct bt_wasm_limits lim = { .fuel = 1 };
	struct bt_wasm_val arg = i32(500), res, rargs[3];
	struct bt_wasm_trap t;
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;
	uint8_t *mem;
	uint64_t size;
	double x;
	int stops;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, latch_wasm, sizeof(latch_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, &lim, &d), 0);
	/* A stop for fuel writes neither step: resuming after every unit
	 * gives the result of an uninterrupted run. */
	assert_int_equal(loops_run(inst, "pdown", &arg, 1, 1, &stops),
	    latch_ref("pdown", 500));
	assert_int_equal(stops, 498);
	assert_int_equal(loops_run(inst, "pup", NULL, 0, 7, &stops),
	    latch_ref("pup", 0));
	assert_int_equal(stops, 99 / 7);
	assert_int_equal(loops_run(inst, "scan", &arg, 1, 3, &stops),
	    latch_ref("scan", 500));
	assert_int_equal(stops, 499 / 3);
	/* MOV5_BR: the fuel check comes before its moves */
	{
		uint32_t r[5] = { 1, 2, 3, 4, 5 }, n = 300;
		struct bt_wasm_val a300 = i32(300);

		while (n-- > 0) {
			uint32_t nt = r[0] + r[4] * 3;

			memmove(r + 1, r, 4 * sizeof(r[0]));
			r[0] = nt;
		}
		assert_int_equal(loops_run(inst, "rot5", &a300, 1, 1, &stops),
		    r[0] ^ r[1] ^ r[2] ^ r[3] ^ r[4]);
		assert_int_equal(stops, 299);
	}
	/* one unit per taken back-edge */
	bt_wasm_instance_set_fuel(inst, 499);
	assert_int_equal(bt_wasm_instance_call(inst, "scan", &arg, 1, &res, 1),
	    0);
	bt_wasm_instance_set_fuel(inst, 498);
	assert_int_equal(bt_wasm_instance_call(inst, "scan", &arg, 1, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_reset(inst);
	/* every compare, taken or not: p = a + 7 either way */
	bt_wasm_instance_set_fuel(inst, 1000000);
	for (int k = 0; k < 10; k++) {
		for (int i = 0; i < 6; i++) {
			for (int j = 0; j < 6; j++) {
				struct bt_wasm_val args[2] = { i32(vals[i]),
					i32(vals[j]) };
				uint32_t p = vals[i] + 7;
				uint32_t want = cmp_ref(k, vals[i], vals[j]) ?
				    p : 0 - p;

				assert_int_equal(bt_wasm_instance_call(inst,
						     cmps[k], args, 2, &res, 1),
				    0);
				if (res.u.i32 != want)
					fail_msg("%s(%#x, %#x) = %#x, want %#x",
					    cmps[k], vals[i], vals[j],
					    res.u.i32, want);
			}
		}
	}
	/* mem[p - 24] += a * b; mem[p - 16] -= a * b; returns p - 16 */
	mem = bt_wasm_instance_memory(inst, &size);
	assert_non_null(mem);
	x = 1.0;
	memcpy(mem + 40, &x, 8);
	memcpy(mem + 48, &x, 8);
	rargs[0] = i32(64);
	rargs[1].type = BT_WASM_F64;
	rargs[2].type = BT_WASM_F64;
	x = 1.5;
	memcpy(&rargs[1].u.f64, &x, 8);
	x = 2.0;
	memcpy(&rargs[2].u.f64, &x, 8);
	assert_int_equal(bt_wasm_instance_call(inst, "rmw", rargs, 3, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 48);
	memcpy(&x, mem + 40, 8);
	assert_true(x == 4.0);
	memcpy(&x, mem + 48, 8);
	assert_true(x == -2.0);
	/* out of bounds: each load reports its own offset */
	rargs[0] = i32(16);
	assert_int_equal(bt_wasm_instance_call(inst, "rmw", rargs, 3, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
	assert_int_equal(t.offset, 0x162);
	bt_wasm_instance_reset(inst);
	rargs[0] = i32((uint32_t)size + 16);
	assert_int_equal(bt_wasm_instance_call(inst, "rmw", rargs, 3, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
	assert_int_equal(t.offset, 0x177);
	bt_wasm_instance_reset(inst);
	/* ld2(p, i, j) = mem32[p + 4i + 4] - mem32[p + 4j + 8]; each load
	 * of the fused pair reports its own offset */
	{
		struct bt_wasm_val la[3] = { i32(100), i32(3), i32(5) };
		uint32_t u = 1000, w = 58;

		memcpy(mem + 100 + 12 + 4, &u, 4);
		memcpy(mem + 100 + 20 + 8, &w, 4);
		assert_int_equal(bt_wasm_instance_call(inst, "ld2", la, 3,
				     &res, 1), 0);
		assert_int_equal(res.u.i32, 942);
		la[1] = i32((uint32_t)size / 4);
		assert_int_equal(bt_wasm_instance_call(inst, "ld2", la, 3,
				     &res, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, 0x2bc);
		bt_wasm_instance_reset(inst);
		la[1] = i32(3);
		la[2] = i32((uint32_t)size / 4);
		assert_int_equal(bt_wasm_instance_call(inst, "ld2", la, 3,
				     &res, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, 0x2c7);
		bt_wasm_instance_reset(inst);
	}
	/* mmx(p, q, r) = mem16[p + 2] * mem16[q + r + 4], the add before
	 * the second load moved before both */
	{
		struct bt_wasm_val la[3] = { i32(200), i32(300), i32(10) };
		int16_t u = -3, w = 7;

		memcpy(mem + 202, &u, 2);
		memcpy(mem + 314, &w, 2);
		assert_int_equal(bt_wasm_instance_call(inst, "mmx", la, 3,
				     &res, 1), 0);
		assert_int_equal(res.u.i32, (uint32_t)-21);
		la[0] = i32((uint32_t)size);
		assert_int_equal(bt_wasm_instance_call(inst, "mmx", la, 3,
				     &res, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, 0x2d2);
		bt_wasm_instance_reset(inst);
		la[0] = i32(200);
		la[1] = i32((uint32_t)size);
		assert_int_equal(bt_wasm_instance_call(inst, "mmx", la, 3,
				     &res, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, 0x2dc);
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/*
 * A direct call whose argument x + k code.c computes inside the call
 * (trick 15):
 * (module
 *   (func $down (export "down") (param i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get 0))
 *       (then (i32.const 0))
 *       (else (i32.add (i32.const 1)
 *                      (call $down (i32.add (local.get 0) (i32.const -1))))))))
 */
static const uint8_t rec_wasm[] = { 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00,
	0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01,
	0x00, 0x07, 0x08, 0x01, 0x04, 0x64, 0x6f, 0x77, 0x6e, 0x00, 0x00, 0x0a,
	0x17, 0x01, 0x15, 0x00, 0x20, 0x00, 0x45, 0x04, 0x7f, 0x41, 0x00, 0x05,
	0x41, 0x01, 0x20, 0x00, 0x41, 0x7f, 0x6a, 0x10, 0x00, 0x6a, 0x0b, 0x0b };

static void
test_fuel_fused_call(void **state)
{
	struct bt_wasm_limits lim = { .fuel = 1 };
	struct bt_wasm_val arg = i32(100), res;
	bt_wasm_module *m;
	bt_wasm_linker *l;
	bt_wasm_instance *inst;
	struct bt_diag d;
	int stops;

	assert_int_equal(bt_wasm_module_new(&m, rec_wasm, sizeof(rec_wasm), &d),
	    0);
	assert_int_equal(bt_wasm_linker_new(&l), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, l, &lim, &d), 0);
	/* 100 nested calls, one unit each: a stop before every call but the
	 * first, and resuming re-runs the call with its argument right. */
	assert_int_equal(loops_run(inst, "down", &arg, 1, 1, &stops), 100);
	assert_int_equal(stops, 99);
	bt_wasm_instance_set_fuel(inst, 100);
	assert_int_equal(bt_wasm_instance_call(inst, "down", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 100);
	bt_wasm_instance_set_fuel(inst, 99);
	assert_int_equal(bt_wasm_instance_call(inst, "down", &arg, 1, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_free(inst);
	bt_wasm_linker_free(l);
	bt_wasm_module_free(m);
}

/*
 * A product of two loads, which code.c fuses into one instruction (trick
 * 11): a trap in either load reports that load's code offset.
 * (module
 *   (memory 1)
 *   (func (export "dot") (param i32 i32) (result i32)       ;; body at 0x36
 *     (i32.mul (i32.load16_s (local.get 0))                 ;; load at 0x38
 *              (i32.load16_s offset=2 (local.get 1))))      ;; load at 0x3d
 *   (func (export "fdot") (param i32 i32) (result f64)
 *     (f64.mul (f64.load (local.get 0))                     ;; load at 0x46
 *              (f64.load (local.get 1)))))                  ;; load at 0x4b
 */
static const uint8_t mm_wasm[] = { 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00,
	0x00, 0x00, 0x01, 0x0d, 0x02, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60,
	0x02, 0x7f, 0x7f, 0x01, 0x7c, 0x03, 0x03, 0x02, 0x00, 0x01, 0x05, 0x03,
	0x01, 0x00, 0x01, 0x07, 0x0e, 0x02, 0x03, 0x64, 0x6f, 0x74, 0x00, 0x00,
	0x04, 0x66, 0x64, 0x6f, 0x74, 0x00, 0x01, 0x0a, 0x1d, 0x02, 0x0d, 0x00,
	0x20, 0x00, 0x2e, 0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x02, 0x6c, 0x0b,
	0x0d, 0x00, 0x20, 0x00, 0x2b, 0x03, 0x00, 0x20, 0x01, 0x2b, 0x03, 0x00,
	0xa2, 0x0b };

static void
mm_expect(bt_wasm_instance *inst, const char *name, uint32_t a, uint32_t b,
    uint32_t want_off)
{
	struct bt_wasm_val args[2] = { i32(a), i32(b) }, res;
	struct bt_wasm_trap t;

	assert_int_equal(bt_wasm_instance_call(inst, name, args, 2, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
	assert_int_equal(t.offset, want_off);
	bt_wasm_instance_reset(inst);
}

static void
test_trap_offset_in_fused_loads(void **state)
{
	struct bt_wasm_val args[2] = { i32(8), i32(16) }, res;
	bt_wasm_module *m;
	bt_wasm_linker *l;
	bt_wasm_instance *inst;
	struct bt_diag d;
	uint8_t *mem;
	uint64_t size;

	assert_int_equal(bt_wasm_module_new(&m, mm_wasm, sizeof(mm_wasm), &d),
	    0);
	assert_int_equal(bt_wasm_linker_new(&l), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, l, NULL, &d), 0);
	mem = bt_wasm_instance_memory(inst, &size);
	assert_non_null(mem);
	mem[8] = 0xfe; /* -2 */
	mem[9] = 0xff;
	mem[18] = 7;
	assert_int_equal(bt_wasm_instance_call(inst, "dot", args, 2, &res, 1),
	    0);
	assert_int_equal(res.u.i32, (uint32_t)-14);
	mm_expect(inst, "dot", 65535, 0, 0x38);
	mm_expect(inst, "dot", 0, 65534, 0x3d);
	mm_expect(inst, "fdot", 65530, 0, 0x46);
	mm_expect(inst, "fdot", 0, 65530, 0x4b);
	bt_wasm_instance_free(inst);
	bt_wasm_linker_free(l);
	bt_wasm_module_free(m);
}

/* The module of test_fused_bit_ops, assembled with wat2wasm from:
 *
 * (module
 *   (func (export "s1") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.xor (i32.rotr (local.get $x) (i32.const 6))
 *                       (i32.rotr (local.get $x) (i32.const 11)))
 *              (i32.rotr (local.get $x) (i32.const 25))))
 *   (func (export "s0") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 30))
 *                       (i32.rotl (local.get $x) (i32.const 19)))
 *              (i32.rotl (local.get $x) (i32.const 10))))
 *   (func (export "sg") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.xor (i32.rotr (local.get $x) (i32.const 7))
 *                       (i32.rotr (local.get $x) (i32.const 18)))
 *              (i32.shr_u (local.get $x) (i32.const 3))))
 *   (func (export "r2") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.rotl (local.get $x) (i32.const 5))
 *              (i32.rotl (local.get $x) (i32.const 9))))
 *   (func (export "xr") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (local.get $a) (i32.rotl (local.get $x) (i32.const 7))))
 *   (func (export "an") (param $x i32) (param $a i32) (result i32)
 *     (i32.and (local.get $a) (i32.xor (local.get $x) (i32.const -1))))
 *   (func (export "na") (param $x i32) (param $a i32) (result i32)
 *     (i32.and (i32.xor (local.get $x) (i32.const -1)) (local.get $a)))
 *   (func (export "tee") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.rotl (local.tee $x (i32.add (local.get $x) (local.get $a)))
 *                        (i32.const 3))
 *              (i32.rotl (local.get $x) (i32.const 5))))
 *   (func (export "tmp") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.rotl (i32.add (local.get $x) (local.get $a)) (i32.const 3))
 *              (i32.rotl (local.get $x) (i32.const 5))))
 *   (func (export "sh2") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 3))
 *                       (i32.rotl (local.get $x) (i32.const 9)))
 *              (i32.shr_u (local.get $a) (i32.const 3))))
 *   (func (export "r3mix") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 1))
 *                       (i32.rotl (local.get $x) (i32.const 2)))
 *              (i32.rotl (local.get $a) (i32.const 3))))
 *   (func (export "nt") (param $x i32) (param $a i32) (result i32)
 *     (i32.and (i32.xor (i32.add (local.get $x) (local.get $a)) (i32.const -1))
 *              (local.get $a)))
 *
 *   (func (export "maj") (param $x i32) (param $a i32) (result i32) (local $m i32)
 *     (local.set $m (i32.add (local.get $x) (i32.const 0x1234567)))
 *     (i32.xor (i32.and (local.get $m) (i32.xor (local.get $x) (local.get $a)))
 *              (i32.and (local.get $x) (local.get $a))))
 *   (func (export "majx") (param $x i32) (param $a i32) (result i32) (local $m i32)
 *     (local.set $m (i32.add (local.get $x) (i32.const 0x1234567)))
 *     (i32.xor (i32.and (local.get $m) (i32.xor (local.get $x) (local.get $a)))
 *              (i32.and (local.get $x) (local.get $m))))
 * ;; c_eq, c_ne, ... c_ge_u: x + (a op x) for each i32 compare, e.g.
 *   (func (export "c_eq") (param $x i32) (param $a i32) (result i32)
 *     (i32.add (local.get $x) (i32.eq (local.get $a) (local.get $x))))
 *   (func (export "c_ge_u_a") (param $x i32) (param $a i32) (result i32)
 *     (i32.add (i32.ge_u (local.get $x) (local.get $a)) (local.get $a)))
 * )
 */
static const uint8_t bits_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,
	0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x1a, 0x19, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xb1, 0x01,
	0x19, 0x02, 0x73, 0x31, 0x00, 0x00, 0x02, 0x73, 0x30, 0x00, 0x01, 0x02,
	0x73, 0x67, 0x00, 0x02, 0x02, 0x72, 0x32, 0x00, 0x03, 0x02, 0x78, 0x72,
	0x00, 0x04, 0x02, 0x61, 0x6e, 0x00, 0x05, 0x02, 0x6e, 0x61, 0x00, 0x06,
	0x03, 0x74, 0x65, 0x65, 0x00, 0x07, 0x03, 0x74, 0x6d, 0x70, 0x00, 0x08,
	0x03, 0x73, 0x68, 0x32, 0x00, 0x09, 0x05, 0x72, 0x33, 0x6d, 0x69, 0x78,
	0x00, 0x0a, 0x02, 0x6e, 0x74, 0x00, 0x0b, 0x03, 0x6d, 0x61, 0x6a, 0x00,
	0x0c, 0x04, 0x6d, 0x61, 0x6a, 0x78, 0x00, 0x0d, 0x04, 0x63, 0x5f, 0x65,
	0x71, 0x00, 0x0e, 0x04, 0x63, 0x5f, 0x6e, 0x65, 0x00, 0x0f, 0x06, 0x63,
	0x5f, 0x6c, 0x74, 0x5f, 0x73, 0x00, 0x10, 0x06, 0x63, 0x5f, 0x6c, 0x74,
	0x5f, 0x75, 0x00, 0x11, 0x06, 0x63, 0x5f, 0x67, 0x74, 0x5f, 0x73, 0x00,
	0x12, 0x06, 0x63, 0x5f, 0x67, 0x74, 0x5f, 0x75, 0x00, 0x13, 0x06, 0x63,
	0x5f, 0x6c, 0x65, 0x5f, 0x73, 0x00, 0x14, 0x06, 0x63, 0x5f, 0x6c, 0x65,
	0x5f, 0x75, 0x00, 0x15, 0x06, 0x63, 0x5f, 0x67, 0x65, 0x5f, 0x73, 0x00,
	0x16, 0x06, 0x63, 0x5f, 0x67, 0x65, 0x5f, 0x75, 0x00, 0x17, 0x08, 0x63,
	0x5f, 0x67, 0x65, 0x5f, 0x75, 0x5f, 0x61, 0x00, 0x18, 0x0a, 0xf9, 0x02,
	0x19, 0x13, 0x00, 0x20, 0x00, 0x41, 0x06, 0x78, 0x20, 0x00, 0x41, 0x0b,
	0x78, 0x73, 0x20, 0x00, 0x41, 0x19, 0x78, 0x73, 0x0b, 0x13, 0x00, 0x20,
	0x00, 0x41, 0x1e, 0x77, 0x20, 0x00, 0x41, 0x13, 0x77, 0x73, 0x20, 0x00,
	0x41, 0x0a, 0x77, 0x73, 0x0b, 0x13, 0x00, 0x20, 0x00, 0x41, 0x07, 0x78,
	0x20, 0x00, 0x41, 0x12, 0x78, 0x73, 0x20, 0x00, 0x41, 0x03, 0x76, 0x73,
	0x0b, 0x0d, 0x00, 0x20, 0x00, 0x41, 0x05, 0x77, 0x20, 0x00, 0x41, 0x09,
	0x77, 0x73, 0x0b, 0x0a, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x07, 0x77,
	0x73, 0x0b, 0x0a, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x7f, 0x73, 0x71,
	0x0b, 0x0a, 0x00, 0x20, 0x00, 0x41, 0x7f, 0x73, 0x20, 0x01, 0x71, 0x0b,
	0x12, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x22, 0x00, 0x41, 0x03, 0x77,
	0x20, 0x00, 0x41, 0x05, 0x77, 0x73, 0x0b, 0x10, 0x00, 0x20, 0x00, 0x20,
	0x01, 0x6a, 0x41, 0x03, 0x77, 0x20, 0x00, 0x41, 0x05, 0x77, 0x73, 0x0b,
	0x13, 0x00, 0x20, 0x00, 0x41, 0x03, 0x77, 0x20, 0x00, 0x41, 0x09, 0x77,
	0x73, 0x20, 0x01, 0x41, 0x03, 0x76, 0x73, 0x0b, 0x13, 0x00, 0x20, 0x00,
	0x41, 0x01, 0x77, 0x20, 0x00, 0x41, 0x02, 0x77, 0x73, 0x20, 0x01, 0x41,
	0x03, 0x77, 0x73, 0x0b, 0x0d, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x41,
	0x7f, 0x73, 0x20, 0x01, 0x71, 0x0b, 0x1c, 0x01, 0x01, 0x7f, 0x20, 0x00,
	0x41, 0xe7, 0x8a, 0x8d, 0x09, 0x6a, 0x21, 0x02, 0x20, 0x02, 0x20, 0x00,
	0x20, 0x01, 0x73, 0x71, 0x20, 0x00, 0x20, 0x01, 0x71, 0x73, 0x0b, 0x1c,
	0x01, 0x01, 0x7f, 0x20, 0x00, 0x41, 0xe7, 0x8a, 0x8d, 0x09, 0x6a, 0x21,
	0x02, 0x20, 0x02, 0x20, 0x00, 0x20, 0x01, 0x73, 0x71, 0x20, 0x00, 0x20,
	0x02, 0x71, 0x73, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00,
	0x46, 0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x47,
	0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x48, 0x6a,
	0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x49, 0x6a, 0x0b,
	0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x4a, 0x6a, 0x0b, 0x0a,
	0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x4b, 0x6a, 0x0b, 0x0a, 0x00,
	0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x4c, 0x6a, 0x0b, 0x0a, 0x00, 0x20,
	0x00, 0x20, 0x01, 0x20, 0x00, 0x4d, 0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00,
	0x20, 0x01, 0x20, 0x00, 0x4e, 0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20,
	0x01, 0x20, 0x00, 0x4f, 0x6a, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01,
	0x4f, 0x20, 0x01, 0x6a, 0x0b
};

static uint32_t
rl(uint32_t x, unsigned k)
{
	k &= 31;
	return k == 0 ? x : (x << k) | (x >> (32 - k));
}

/* Each function of bits_wasm, computed in C. */
static uint32_t
bits_ref(const char *name, uint32_t x, uint32_t a)
{
	if (strcmp(name, "s1") == 0)
		return rl(x, 26) ^ rl(x, 21) ^ rl(x, 7);
	if (strcmp(name, "s0") == 0)
		return rl(x, 30) ^ rl(x, 19) ^ rl(x, 10);
	if (strcmp(name, "sg") == 0)
		return rl(x, 25) ^ rl(x, 14) ^ (x >> 3);
	if (strcmp(name, "r2") == 0)
		return rl(x, 5) ^ rl(x, 9);
	if (strcmp(name, "xr") == 0)
		return a ^ rl(x, 7);
	if (strcmp(name, "an") == 0 || strcmp(name, "na") == 0)
		return a & ~x;
	if (strcmp(name, "tee") == 0)
		return rl(x + a, 3) ^ rl(x + a, 5);
	if (strcmp(name, "tmp") == 0)
		return rl(x + a, 3) ^ rl(x, 5);
	if (strcmp(name, "sh2") == 0)
		return rl(x, 3) ^ rl(x, 9) ^ (a >> 3);
	if (strcmp(name, "r3mix") == 0)
		return rl(x, 1) ^ rl(x, 2) ^ rl(a, 3);
	if (strcmp(name, "nt") == 0)
		return ~(x + a) & a;
	if (strcmp(name, "maj") == 0) {
		uint32_t m = x + 0x1234567;

		return (m & x) ^ (m & a) ^ (x & a);
	}
	if (strcmp(name, "majx") == 0) {
		uint32_t m = x + 0x1234567;

		return (m & (x ^ a)) ^ (x & m);
	}
	if (strcmp(name, "c_ge_u_a") == 0)
		return (x >= a) + a;
	return x + cmp_ref(cmp_index(name + 2), a, x);
}

/* The fused xors of rotations and shifts (I32_ROT2X, I32_ROT3X,
 * I32_ROT2SHRX), and-not, and the near misses that must not fuse (a
 * rotation of another value, or of a temporary the first one overwrote),
 * give what the plain instructions give. */
static void
test_fused_bit_ops(void **state)
{
	static const char *const names[] = { "s1", "s0", "sg", "r2", "xr",
		"an", "na", "tee", "tmp", "sh2", "r3mix", "nt", "maj", "majx",
		"c_eq", "c_ne", "c_lt_s", "c_lt_u", "c_gt_s", "c_gt_u",
		"c_le_s", "c_le_u", "c_ge_s", "c_ge_u", "c_ge_u_a" };
	static const uint32_t xs[] = { 0, 1, 0x80000000u, 0x6a09e667u,
		0xdeadbeefu, 0xffffffffu };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, bits_wasm, sizeof(bits_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (size_t j = 0; j < sizeof(xs) / sizeof(xs[0]); j++) {
			uint32_t x = xs[j], a = xs[(j + 3) % 6] ^ 0x5bu;
			struct bt_wasm_val args[2] = { i32(x), i32(a) }, res;

			assert_int_equal(bt_wasm_instance_call(inst, names[i],
					     args, 2, &res, 1), 0);
			if (res.u.i32 != bits_ref(names[i], x, a))
				fail_msg("%s(%#x, %#x) = %#x, want %#x",
				    names[i], x, a, res.u.i32,
				    bits_ref(names[i], x, a));
		}
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_acc_forms, assembled with wat2wasm from:
 *
 * (module
 *   (memory 1)
 *   (func (export "rb") (param $a i64) (param $b i64) (param $c f64) (result f64)
 *     (f64.add (f64.reinterpret_i64 (i64.add (local.get $a) (local.get $b))) (local.get $c)))
 *   (func (export "sel") (param $x f64) (param $y f64) (param $k i32) (result f64)
 *     (f64.mul (select (local.get $x) (local.get $y) (local.get $k)) (local.get $y)))
 *   (func (export "chain") (param $x f64) (param $y f64) (param $z f64) (result f64)
 *     (f64.div (local.get $z)
 *       (f64.mul (f64.sqrt (f64.add (f64.add (f64.mul (local.get $x) (local.get $x))
 *                                            (f64.mul (local.get $y) (local.get $y)))
 *                                   (local.get $z)))
 *                (f64.sub (local.get $x) (local.get $y)))))
 *   (func (export "bits") (param $x f64) (param $y f64) (result i64)
 *     (i64.xor (i64.reinterpret_f64 (f64.mul (local.get $x) (local.get $y))) (i64.reinterpret_f64 (local.get $x))))
 *   (func (export "mem") (param $x f64) (param $y f64) (result f64)
 *     (f64.store (i32.const 8) (local.get $x))
 *     (f64.store (i32.const 16) (f64.sub (f64.load (i32.const 8)) (f64.mul (local.get $y) (local.get $y))))
 *     (f64.add (f64.load (i32.const 16)) (f64.mul (f64.load (i32.const 8)) (local.get $y))))
 *   (func (export "ld") (param $x f64) (param $y f64) (result f64)
 *     (f64.store (i32.const 24) (local.get $y))
 *     (f64.add (f64.load (i32.const 24)) (local.get $x)))
 *   (func (export "ints") (param $a i32) (param $b i32) (result i32) (local $t i32)
 *     (local.set $t (i32.add (local.get $a) (local.get $b)))
 *     (i32.xor
 *       (i32.add (i32.add (i32.shl (local.get $a) (i32.const 3)) (local.get $b))
 *                (i32.or (local.get $t) (i32.shr_u (local.get $b) (i32.const 5))))
 *       (local.get $t)))
 *   (func (export "tee") (param $a i32) (param $b i32) (result i32) (local $t i32)
 *     (i32.add (i32.xor (local.tee $t (i32.add (local.get $a) (local.get $b))) (local.get $b))
 *              (local.get $t)))
 *   (func (export "imm") (param $x f64) (param $y f64) (param $k i32) (result f64)
 *     (f64.div (f64.sqrt (f64.add (f64.mul (local.get $x) (local.get $y)) (f64.const 0.5)))
 *              (f64.sqrt (f64.mul (select (local.get $x) (local.get $y) (local.get $k)) (f64.const 4.0)))))
 *   (func (export "sqs") (param $x f64) (param $y f64) (param $k i32) (result f64)
 *     (f64.sub (f64.sqrt (select (local.get $x) (local.get $y) (local.get $k))) (local.get $y)))
 *   (func (export "am") (param $x i32) (param $a i32) (result i32) (local $m i32)
 *     (local.set $m (i32.add (local.get $x) (i32.const 0x1234567)))
 *     (i32.xor (i32.add (local.get $a)
 *                       (i32.xor (i32.and (local.get $m) (i32.xor (local.get $x) (local.get $a)))
 *                                (i32.and (local.get $x) (local.get $a))))
 *              (local.get $x)))
 *   (func (export "aan") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.add (i32.mul (local.get $x) (local.get $a))
 *                       (i32.and (local.get $a) (i32.xor (local.get $x) (i32.const -1))))
 *              (local.get $a)))
 *   (func (export "asg") (param $x i32) (param $a i32) (result i32)
 *     (i32.add (i32.add (i32.xor (i32.xor (i32.rotr (local.get $x) (i32.const 7))
 *                                         (i32.rotr (local.get $x) (i32.const 18)))
 *                                (i32.shr_u (local.get $x) (i32.const 3)))
 *                       (local.get $a))
 *              (i32.add (i32.mul (local.get $x) (local.get $a))
 *                       (i32.xor (i32.xor (i32.rotr (local.get $a) (i32.const 17))
 *                                         (i32.rotr (local.get $a) (i32.const 19)))
 *                                (i32.shr_u (local.get $a) (i32.const 10))))))
 *   (func (export "sel2") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (select (local.get $x) (local.get $a) (i32.lt_s (local.get $x) (local.get $a)))
 *              (local.get $a)))
 *   (func (export "add3") (param $x i32) (param $a i32) (result i32)
 *     (i32.xor (i32.add (local.get $a) (i32.add (i32.mul (local.get $x) (local.get $a)) (local.get $x)))
 *              (local.get $a)))
 *   (func (export "a3and") (param $x i32) (param $a i32) (result i32) (local $t i32)
 *     (i32.xor (i32.add (local.get $a)
 *                       (i32.add (i32.mul (local.get $x) (local.get $a))
 *                                (i32.and (local.get $x) (i32.xor (local.get $a) (i32.const 0xff00ff)))))
 *              (i32.add (local.get $x)
 *                       (i32.add (i32.mul (local.get $a) (local.get $a))
 *                                (local.tee $t (i32.and (local.get $x) (local.get $a)))))))
 * )
 *
 * f64 operations (binary, with a constant, sqrt) whose operand comes
 * from a producer that does not set the float accumulator (an i64 op on
 * the bits, select, a load), chains
 * of f64 operations through it, f64 results read as bits, and integer
 * results that go only to the next instruction (no-store twins) next to
 * ones a later instruction reads from their local (fuse.c, trick 19);
 * x + maj, x + (a & ~b) and x + sigma in one instruction, x from acc or
 * not, result stored or not (trick 20); a + b + (p & q) in one, and
 * not when the and's result goes to a local too.
 */
static const uint8_t acc_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x28, 0x06, 0x60,
	0x03, 0x7e, 0x7e, 0x7c, 0x01, 0x7c, 0x60, 0x03, 0x7c, 0x7c, 0x7f, 0x01,
	0x7c, 0x60, 0x03, 0x7c, 0x7c, 0x7c, 0x01, 0x7c, 0x60, 0x02, 0x7c, 0x7c,
	0x01, 0x7e, 0x60, 0x02, 0x7c, 0x7c, 0x01, 0x7c, 0x60, 0x02, 0x7f, 0x7f,
	0x01, 0x7f, 0x03, 0x11, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x04, 0x05,
	0x05, 0x01, 0x01, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0x03, 0x01,
	0x00, 0x01, 0x07, 0x66, 0x10, 0x02, 0x72, 0x62, 0x00, 0x00, 0x03, 0x73,
	0x65, 0x6c, 0x00, 0x01, 0x05, 0x63, 0x68, 0x61, 0x69, 0x6e, 0x00, 0x02,
	0x04, 0x62, 0x69, 0x74, 0x73, 0x00, 0x03, 0x03, 0x6d, 0x65, 0x6d, 0x00,
	0x04, 0x02, 0x6c, 0x64, 0x00, 0x05, 0x04, 0x69, 0x6e, 0x74, 0x73, 0x00,
	0x06, 0x03, 0x74, 0x65, 0x65, 0x00, 0x07, 0x03, 0x69, 0x6d, 0x6d, 0x00,
	0x08, 0x03, 0x73, 0x71, 0x73, 0x00, 0x09, 0x02, 0x61, 0x6d, 0x00, 0x0a,
	0x03, 0x61, 0x61, 0x6e, 0x00, 0x0b, 0x03, 0x61, 0x73, 0x67, 0x00, 0x0c,
	0x04, 0x73, 0x65, 0x6c, 0x32, 0x00, 0x0d, 0x04, 0x61, 0x64, 0x64, 0x33,
	0x00, 0x0e, 0x05, 0x61, 0x33, 0x61, 0x6e, 0x64, 0x00, 0x0f, 0x0a, 0x93,
	0x03, 0x10, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x7c, 0xbf, 0x20, 0x02,
	0xa0, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x1b, 0x20,
	0x01, 0xa2, 0x0b, 0x1a, 0x00, 0x20, 0x02, 0x20, 0x00, 0x20, 0x00, 0xa2,
	0x20, 0x01, 0x20, 0x01, 0xa2, 0xa0, 0x20, 0x02, 0xa0, 0x9f, 0x20, 0x00,
	0x20, 0x01, 0xa1, 0xa2, 0xa3, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01,
	0xa2, 0xbd, 0x20, 0x00, 0xbd, 0x85, 0x0b, 0x27, 0x00, 0x41, 0x08, 0x20,
	0x00, 0x39, 0x03, 0x00, 0x41, 0x10, 0x41, 0x08, 0x2b, 0x03, 0x00, 0x20,
	0x01, 0x20, 0x01, 0xa2, 0xa1, 0x39, 0x03, 0x00, 0x41, 0x10, 0x2b, 0x03,
	0x00, 0x41, 0x08, 0x2b, 0x03, 0x00, 0x20, 0x01, 0xa2, 0xa0, 0x0b, 0x11,
	0x00, 0x41, 0x18, 0x20, 0x01, 0x39, 0x03, 0x00, 0x41, 0x18, 0x2b, 0x03,
	0x00, 0x20, 0x00, 0xa0, 0x0b, 0x1f, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x20,
	0x01, 0x6a, 0x21, 0x02, 0x20, 0x00, 0x41, 0x03, 0x74, 0x20, 0x01, 0x6a,
	0x20, 0x02, 0x20, 0x01, 0x41, 0x05, 0x76, 0x72, 0x6a, 0x20, 0x02, 0x73,
	0x0b, 0x11, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x22, 0x02,
	0x20, 0x01, 0x73, 0x20, 0x02, 0x6a, 0x0b, 0x25, 0x00, 0x20, 0x00, 0x20,
	0x01, 0xa2, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, 0xa0,
	0x9f, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x1b, 0x44, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x10, 0x40, 0xa2, 0x9f, 0xa3, 0x0b, 0x0d, 0x00, 0x20,
	0x00, 0x20, 0x01, 0x20, 0x02, 0x1b, 0x9f, 0x20, 0x01, 0xa1, 0x0b, 0x22,
	0x01, 0x01, 0x7f, 0x20, 0x00, 0x41, 0xe7, 0x8a, 0x8d, 0x09, 0x6a, 0x21,
	0x02, 0x20, 0x01, 0x20, 0x02, 0x20, 0x00, 0x20, 0x01, 0x73, 0x71, 0x20,
	0x00, 0x20, 0x01, 0x71, 0x73, 0x6a, 0x20, 0x00, 0x73, 0x0b, 0x13, 0x00,
	0x20, 0x00, 0x20, 0x01, 0x6c, 0x20, 0x01, 0x20, 0x00, 0x41, 0x7f, 0x73,
	0x71, 0x6a, 0x20, 0x01, 0x73, 0x0b, 0x2e, 0x00, 0x20, 0x00, 0x41, 0x07,
	0x78, 0x20, 0x00, 0x41, 0x12, 0x78, 0x73, 0x20, 0x00, 0x41, 0x03, 0x76,
	0x73, 0x20, 0x01, 0x6a, 0x20, 0x00, 0x20, 0x01, 0x6c, 0x20, 0x01, 0x41,
	0x11, 0x78, 0x20, 0x01, 0x41, 0x13, 0x78, 0x73, 0x20, 0x01, 0x41, 0x0a,
	0x76, 0x73, 0x6a, 0x6a, 0x0b, 0x0f, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20,
	0x00, 0x20, 0x01, 0x48, 0x1b, 0x20, 0x01, 0x73, 0x0b, 0x10, 0x00, 0x20,
	0x01, 0x20, 0x00, 0x20, 0x01, 0x6c, 0x20, 0x00, 0x6a, 0x6a, 0x20, 0x01,
	0x73, 0x0b, 0x29, 0x01, 0x01, 0x7f, 0x20, 0x01, 0x20, 0x00, 0x20, 0x01,
	0x6c, 0x20, 0x00, 0x20, 0x01, 0x41, 0xff, 0x81, 0xfc, 0x07, 0x73, 0x71,
	0x6a, 0x6a, 0x20, 0x00, 0x20, 0x01, 0x20, 0x01, 0x6c, 0x20, 0x00, 0x20,
	0x01, 0x71, 0x22, 0x02, 0x6a, 0x6a, 0x73, 0x0b
};

static uint64_t
dbits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static double
bitsd(uint64_t u)
{
	double d;

	memcpy(&d, &u, 8);
	return d;
}

static struct bt_wasm_val
vf64(double d)
{
	struct bt_wasm_val x = { .type = BT_WASM_F64 };

	x.u.f64 = dbits(d);
	return x;
}

static struct bt_wasm_val
vi64(uint64_t v)
{
	struct bt_wasm_val x = { .type = BT_WASM_I64 };

	x.u.i64 = v;
	return x;
}

static void
test_acc_forms(void **state)
{
	static const double xs[] = { 1.5, -2.25, 3.0, 1e-300, 7.75e12, 0.1 };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;
	struct bt_wasm_val r;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, acc_wasm, sizeof(acc_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	for (size_t i = 0; i < 6; i++) {
		double x = xs[i], y = xs[(i + 1) % 6], z = xs[(i + 2) % 6];
		uint64_t a = dbits(x) - 12345, b = 12345 + (uint64_t)i;
		uint32_t ia = (uint32_t)dbits(x), ib = (uint32_t)(dbits(y) >> 20);
		struct bt_wasm_val ab[3] = { vi64(a), vi64(b), vf64(z) };
		struct bt_wasm_val xyk[3] = { vf64(x), vf64(y), i32(i & 1) };
		struct bt_wasm_val xyz[3] = { vf64(x), vf64(y), vf64(z) };
		struct bt_wasm_val ii[2] = { i32(ia), i32(ib) };
		uint32_t t = ia + ib, mm = ia + 0x1234567;

		assert_int_equal(bt_wasm_instance_call(inst, "rb", ab, 3, &r,
				     1), 0);
		assert_int_equal(r.u.f64, dbits(bitsd(a + b) + z));
		assert_int_equal(bt_wasm_instance_call(inst, "sel", xyk, 3, &r,
				     1), 0);
		assert_int_equal(r.u.f64, dbits(((i & 1) ? x : y) * y));
		assert_int_equal(bt_wasm_instance_call(inst, "chain", xyz, 3,
				     &r, 1), 0);
		assert_int_equal(r.u.f64,
		    dbits(z / (sqrt(x * x + y * y + z) * (x - y))));
		assert_int_equal(bt_wasm_instance_call(inst, "bits", xyz, 2,
				     &r, 1), 0);
		assert_int_equal(r.u.i64, dbits(x * y) ^ dbits(x));
		assert_int_equal(bt_wasm_instance_call(inst, "mem", xyz, 2, &r,
				     1), 0);
		assert_int_equal(r.u.f64, dbits((x - y * y) + x * y));
		assert_int_equal(bt_wasm_instance_call(inst, "ld", xyz, 2, &r,
				     1), 0);
		assert_int_equal(r.u.f64, dbits(y + x));
		assert_int_equal(bt_wasm_instance_call(inst, "ints", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32,
		    (((ia << 3) + ib + (t | (ib >> 5))) ^ t));
		assert_int_equal(bt_wasm_instance_call(inst, "tee", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32, (uint32_t)((t ^ ib) + t));
		xyk[0] = vf64(fabs(x));
		xyk[1] = vf64(fabs(y));
		assert_int_equal(bt_wasm_instance_call(inst, "imm", xyk, 3, &r,
				     1), 0);
		assert_int_equal(r.u.f64, dbits(sqrt(fabs(x) * fabs(y) + 0.5) /
		    sqrt(((i & 1) ? fabs(x) : fabs(y)) * 4.0)));
		assert_int_equal(bt_wasm_instance_call(inst, "sqs", xyk, 3, &r,
				     1), 0);
		assert_int_equal(r.u.f64,
		    dbits(sqrt((i & 1) ? fabs(x) : fabs(y)) - fabs(y)));
		assert_int_equal(bt_wasm_instance_call(inst, "am", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32, (uint32_t)(ib + ((mm & (ia ^ ib)) ^
		    (ia & ib))) ^ ia);
		assert_int_equal(bt_wasm_instance_call(inst, "aan", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32, (uint32_t)(ia * ib + (ib & ~ia)) ^ ib);
		assert_int_equal(bt_wasm_instance_call(inst, "asg", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32, (uint32_t)((rl(ia, 25) ^
		    rl(ia, 14) ^ (ia >> 3)) + ib + ia * ib +
		    (rl(ib, 15) ^ rl(ib, 13) ^ (ib >> 10))));
		assert_int_equal(bt_wasm_instance_call(inst, "sel2", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32,
		    ((int32_t)ia < (int32_t)ib ? ia : ib) ^ ib);
		assert_int_equal(bt_wasm_instance_call(inst, "add3", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32, (uint32_t)(ib + ia * ib + ia) ^ ib);
		assert_int_equal(bt_wasm_instance_call(inst, "a3and", ii, 2, &r,
				     1), 0);
		assert_int_equal(r.u.i32,
		    (uint32_t)(ib + ia * ib + (ia & (ib ^ 0xff00ffu))) ^
		    (uint32_t)(ia + ib * ib + (ia & ib)));
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_load_select, assembled with wat2wasm from:
 *
 * (module
 *   (memory 1)
 *   (data (i32.const 64) "\05\00\00\00\fb\ff\ff\ff\07\00\00\00\00\00\00\80")
 *   (func (export "msel") (param $b i32) (param $i i32) (param $j i32) (result i32) (local $x i32) (local $y i32)
 *     (local.set $x (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))))
 *     (local.set $y (i32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))))
 *     (i32.add (i32.mul (select (local.get $x) (local.get $y) (i32.lt_s (local.get $x) (local.get $y)))
 *                       (i32.const 1000))
 *              (i32.add (local.get $x) (i32.mul (local.get $y) (i32.const 10)))))
 *   (func (export "mselu") (param $b i32) (param $i i32) (param $j i32) (result i32) (local $x i32) (local $y i32)
 *     (local.set $x (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))))
 *     (local.set $y (i32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))))
 *     (i32.xor (select (local.get $x) (local.get $y) (i32.ge_u (local.get $x) (local.get $y)))
 *              (local.get $x)))
 * )
 *
 * Two indexed loads from one base (LD32_X2) and the select of the two
 * values just after them run as one handler (fuse.c, trick 21), with and
 * without the select's store; the two i32.load of "msel" are at byte
 * offsets 61 and 74 of the module.
 */
static const uint8_t sel_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60,
	0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x00, 0x05,
	0x03, 0x01, 0x00, 0x01, 0x07, 0x10, 0x02, 0x04, 0x6d, 0x73, 0x65, 0x6c,
	0x00, 0x00, 0x05, 0x6d, 0x73, 0x65, 0x6c, 0x75, 0x00, 0x01, 0x0a, 0x63,
	0x02, 0x35, 0x01, 0x02, 0x7f, 0x20, 0x00, 0x20, 0x01, 0x41, 0x02, 0x74,
	0x6a, 0x28, 0x02, 0x00, 0x21, 0x03, 0x20, 0x00, 0x20, 0x02, 0x41, 0x02,
	0x74, 0x6a, 0x28, 0x02, 0x00, 0x21, 0x04, 0x20, 0x03, 0x20, 0x04, 0x20,
	0x03, 0x20, 0x04, 0x48, 0x1b, 0x41, 0xe8, 0x07, 0x6c, 0x20, 0x03, 0x20,
	0x04, 0x41, 0x0a, 0x6c, 0x6a, 0x6a, 0x0b, 0x2b, 0x01, 0x02, 0x7f, 0x20,
	0x00, 0x20, 0x01, 0x41, 0x02, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x21, 0x03,
	0x20, 0x00, 0x20, 0x02, 0x41, 0x02, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x21,
	0x04, 0x20, 0x03, 0x20, 0x04, 0x20, 0x03, 0x20, 0x04, 0x4f, 0x1b, 0x20,
	0x03, 0x73, 0x0b, 0x0b, 0x17, 0x01, 0x00, 0x41, 0xc0, 0x00, 0x0b, 0x10,
	0x05, 0x00, 0x00, 0x00, 0xfb, 0xff, 0xff, 0xff, 0x07, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x80
};

static void
test_load_select(void **state)
{
	static const uint32_t a[4] = { 5, (uint32_t)-5, 7, 0x80000000u };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;
	struct bt_wasm_val r;
	struct bt_wasm_trap t;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, sel_wasm, sizeof(sel_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	for (uint32_t i = 0; i < 4; i++) {
		for (uint32_t j = 0; j < 4; j++) {
			struct bt_wasm_val args[3] = { i32(64), i32(i),
				i32(j) };
			uint32_t x = a[i], y = a[j];
			uint32_t mn = (int32_t)x < (int32_t)y ? x : y;

			assert_int_equal(bt_wasm_instance_call(inst, "msel",
					     args, 3, &r, 1), 0);
			assert_int_equal(r.u.i32,
			    (uint32_t)(mn * 1000u + x + y * 10u));
			assert_int_equal(bt_wasm_instance_call(inst, "mselu",
					     args, 3, &r, 1), 0);
			assert_int_equal(r.u.i32, (x >= y ? x : y) ^ x);
		}
	}
	/* each load reports its own offset */
	for (int w = 0; w < 2; w++) {
		struct bt_wasm_val args[3] = { i32(64), i32(w ? 1u << 28 : 0),
			i32(w ? 0 : 1u << 28) };

		assert_int_equal(bt_wasm_instance_call(inst, "msel", args, 3,
				     &r, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.func, 0);
		assert_int_equal(t.offset, w ? 61 : 74);
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_dot_products, assembled with wat2wasm from:
 *
 * (module
 *   (memory 1)
 *   (func (export "dot4") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     (i32.load16_s offset=0 (i32.add (local.get $a) (i32.const 64)))
 *     (i32.load16_s offset=0 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=1 (i32.add (local.get $a) (i32.const 68)))
 *     (i32.load16_s offset=80 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=2 (i32.add (local.get $a) (i32.const 72)))
 *     (i32.load16_s offset=3 (i32.add (local.get $b) (i32.const 157)))
 *     i32.mul
 *     (i32.load16_s offset=3 (i32.add (local.get $a) (i32.const 76)))
 *     (i32.load16_s offset=240 (local.get $b))
 *     i32.mul
 *     local.get $s
 *     i32.add i32.add i32.add i32.add)
 *   (func (export "dot4w") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     (i32.load offset=0 (i32.add (local.get $a) (i32.const 64)))
 *     (i32.load offset=0 (local.get $b))
 *     i32.mul
 *     (i32.load offset=1 (i32.add (local.get $a) (i32.const 68)))
 *     (i32.load offset=80 (local.get $b))
 *     i32.mul
 *     (i32.load offset=2 (i32.add (local.get $a) (i32.const 72)))
 *     (i32.load offset=3 (i32.add (local.get $b) (i32.const 157)))
 *     i32.mul
 *     (i32.load offset=3 (i32.add (local.get $a) (i32.const 76)))
 *     (i32.load offset=240 (local.get $b))
 *     i32.mul
 *     local.get $s
 *     i32.add i32.add i32.add i32.add)
 *   ;; the third product's first factor from another base: the generic form
 *   (func (export "mac4") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     (i32.load16_s offset=0 (i32.add (local.get $a) (i32.const 64)))
 *     (i32.load16_s offset=0 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=1 (i32.add (local.get $a) (i32.const 68)))
 *     (i32.load16_s offset=80 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=2 (i32.add (local.get $s) (i32.const 72)))
 *     (i32.load16_s offset=3 (i32.add (local.get $b) (i32.const 157)))
 *     i32.mul
 *     (i32.load16_s offset=3 (i32.add (local.get $a) (i32.const 76)))
 *     (i32.load16_s offset=240 (local.get $b))
 *     i32.mul
 *     local.get $s
 *     i32.add i32.add i32.add i32.add)
 *   ;; two products and the sum, the sum first: MAC2 (i32)
 *   (func (export "mac2") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     local.get $s
 *     (i32.load offset=4 (local.get $a))
 *     (i32.load offset=8 (local.get $b))
 *     i32.mul
 *     (i32.load offset=12 (local.get $a))
 *     (i32.load offset=16 (local.get $b))
 *     i32.mul
 *     i32.add i32.add)
 *   ;; sum on the left of one product: MAC1
 *   (func (export "mac1") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     (i32.add (local.get $s)
 *       (i32.mul (i32.load16_s offset=6 (local.get $a))
 *                (i32.load16_s offset=8 (local.get $b)))))
 *   ;; near misses: a product that is not of loads in the middle, a product
 *   ;; also kept in a local, 16-bit and 32-bit products mixed
 *   (func (export "miss") (param $a i32) (param $b i32) (param $s i32) (result i32) (local $t i32)
 *     (i32.load16_s offset=0 (local.get $a))
 *     (i32.load16_s offset=0 (local.get $b))
 *     i32.mul
 *     (i32.mul (local.get $a) (local.get $b))
 *     (local.tee $t (i32.mul (i32.load16_s offset=2 (local.get $a))
 *                            (i32.load16_s offset=2 (local.get $b))))
 *     (i32.load offset=4 (local.get $a))
 *     (i32.load offset=4 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=8 (local.get $a))
 *     (i32.load16_s offset=8 (local.get $b))
 *     i32.mul
 *     local.get $s
 *     i32.add i32.add i32.add i32.add i32.add
 *     (i32.mul (local.get $t) (i32.const 3))
 *     i32.add)
 *   ;; a dot product's loop (intmix's shape), for fuel stops
 *   (func (export "loop") (param $a i32) (param $b i32) (param $n i32) (result i32) (local $s i32) (local $i i32)
 *     (loop $l
 *       (i32.load16_s offset=0 (local.get $a))
 *       (i32.load16_s offset=0 (local.get $b))
 *       i32.mul
 *       (i32.load16_s offset=2 (local.get $a))
 *       (i32.load16_s offset=80 (local.get $b))
 *       i32.mul
 *       (i32.load16_s offset=4 (local.get $a))
 *       (i32.load16_s offset=160 (local.get $b))
 *       i32.mul
 *       (i32.load16_s offset=6 (local.get $a))
 *       (i32.load16_s offset=240 (local.get $b))
 *       i32.mul
 *       local.get $s
 *       i32.add i32.add i32.add i32.add
 *       local.set $s
 *       (local.set $a (i32.add (local.get $a) (i32.const 8)))
 *       (local.set $b (i32.add (local.get $b) (i32.const 320)))
 *       (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
 *                         (local.get $n))))
 *     local.get $s)
 *   ;; the second factors are the 8 bytes at b + 8, in shuffled order
 *   (func (export "dot4c") (param $a i32) (param $b i32) (param $s i32) (result i32)
 *     (i32.load16_s offset=0 (i32.add (local.get $a) (i32.const 364)))
 *     (i32.load16_s offset=2 (i32.add (local.get $b) (i32.const 10)))
 *     i32.mul
 *     (i32.load16_s offset=0 (i32.add (local.get $a) (i32.const 164)))
 *     (i32.load16_s offset=8 (local.get $b))
 *     i32.mul
 *     (i32.load16_s offset=4 (i32.add (local.get $a) (i32.const 260)))
 *     (i32.load16_s offset=7 (i32.add (local.get $b) (i32.const 7)))
 *     i32.mul
 *     (i32.load16_s offset=0 (i32.add (local.get $a) (i32.const 64)))
 *     (i32.load16_s offset=0 (i32.add (local.get $b) (i32.const 10)))
 *     i32.mul
 *     local.get $s
 *     i32.add i32.add i32.add i32.add)
 * )
 *
 * i32.add of a product of two loads and a sum becomes I32_MAC_MM[16S],
 * and the next add of the product before it one instruction with one
 * more product, up to four (fuse.c, trick 22); four with one base per
 * factor become I32_DOT4_MM[16S], which folds each address's constant
 * and offset into one cell, and the int16 ones whose factors on one side
 * are 8 contiguous bytes I32_DOT4CX_MM16S (loop) or I32_DOT4CY_MM16S
 * (dot4c), which read them with one load. The loads' byte offsets in the
 * module are in dot4_offs and the like below.
 */
static const uint8_t dot_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60,
	0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x09, 0x08, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x3b,
	0x08, 0x04, 0x64, 0x6f, 0x74, 0x34, 0x00, 0x00, 0x05, 0x64, 0x6f, 0x74,
	0x34, 0x77, 0x00, 0x01, 0x04, 0x6d, 0x61, 0x63, 0x34, 0x00, 0x02, 0x04,
	0x6d, 0x61, 0x63, 0x32, 0x00, 0x03, 0x04, 0x6d, 0x61, 0x63, 0x31, 0x00,
	0x04, 0x04, 0x6d, 0x69, 0x73, 0x73, 0x00, 0x05, 0x04, 0x6c, 0x6f, 0x6f,
	0x70, 0x00, 0x06, 0x05, 0x64, 0x6f, 0x74, 0x34, 0x63, 0x00, 0x07, 0x0a,
	0xfb, 0x03, 0x08, 0x49, 0x00, 0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x2e,
	0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x00, 0x6c, 0x20, 0x00, 0x41, 0xc4,
	0x00, 0x6a, 0x2e, 0x01, 0x01, 0x20, 0x01, 0x2e, 0x01, 0x50, 0x6c, 0x20,
	0x00, 0x41, 0xc8, 0x00, 0x6a, 0x2e, 0x01, 0x02, 0x20, 0x01, 0x41, 0x9d,
	0x01, 0x6a, 0x2e, 0x01, 0x03, 0x6c, 0x20, 0x00, 0x41, 0xcc, 0x00, 0x6a,
	0x2e, 0x01, 0x03, 0x20, 0x01, 0x2e, 0x01, 0xf0, 0x01, 0x6c, 0x20, 0x02,
	0x6a, 0x6a, 0x6a, 0x6a, 0x0b, 0x49, 0x00, 0x20, 0x00, 0x41, 0xc0, 0x00,
	0x6a, 0x28, 0x02, 0x00, 0x20, 0x01, 0x28, 0x02, 0x00, 0x6c, 0x20, 0x00,
	0x41, 0xc4, 0x00, 0x6a, 0x28, 0x02, 0x01, 0x20, 0x01, 0x28, 0x02, 0x50,
	0x6c, 0x20, 0x00, 0x41, 0xc8, 0x00, 0x6a, 0x28, 0x02, 0x02, 0x20, 0x01,
	0x41, 0x9d, 0x01, 0x6a, 0x28, 0x02, 0x03, 0x6c, 0x20, 0x00, 0x41, 0xcc,
	0x00, 0x6a, 0x28, 0x02, 0x03, 0x20, 0x01, 0x28, 0x02, 0xf0, 0x01, 0x6c,
	0x20, 0x02, 0x6a, 0x6a, 0x6a, 0x6a, 0x0b, 0x49, 0x00, 0x20, 0x00, 0x41,
	0xc0, 0x00, 0x6a, 0x2e, 0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x00, 0x6c,
	0x20, 0x00, 0x41, 0xc4, 0x00, 0x6a, 0x2e, 0x01, 0x01, 0x20, 0x01, 0x2e,
	0x01, 0x50, 0x6c, 0x20, 0x02, 0x41, 0xc8, 0x00, 0x6a, 0x2e, 0x01, 0x02,
	0x20, 0x01, 0x41, 0x9d, 0x01, 0x6a, 0x2e, 0x01, 0x03, 0x6c, 0x20, 0x00,
	0x41, 0xcc, 0x00, 0x6a, 0x2e, 0x01, 0x03, 0x20, 0x01, 0x2e, 0x01, 0xf0,
	0x01, 0x6c, 0x20, 0x02, 0x6a, 0x6a, 0x6a, 0x6a, 0x0b, 0x1c, 0x00, 0x20,
	0x02, 0x20, 0x00, 0x28, 0x02, 0x04, 0x20, 0x01, 0x28, 0x02, 0x08, 0x6c,
	0x20, 0x00, 0x28, 0x02, 0x0c, 0x20, 0x01, 0x28, 0x02, 0x10, 0x6c, 0x6a,
	0x6a, 0x0b, 0x10, 0x00, 0x20, 0x02, 0x20, 0x00, 0x2e, 0x01, 0x06, 0x20,
	0x01, 0x2e, 0x01, 0x08, 0x6c, 0x6a, 0x0b, 0x44, 0x01, 0x01, 0x7f, 0x20,
	0x00, 0x2e, 0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x00, 0x6c, 0x20, 0x00,
	0x20, 0x01, 0x6c, 0x20, 0x00, 0x2e, 0x01, 0x02, 0x20, 0x01, 0x2e, 0x01,
	0x02, 0x6c, 0x22, 0x03, 0x20, 0x00, 0x28, 0x02, 0x04, 0x20, 0x01, 0x28,
	0x02, 0x04, 0x6c, 0x20, 0x00, 0x2e, 0x01, 0x08, 0x20, 0x01, 0x2e, 0x01,
	0x08, 0x6c, 0x20, 0x02, 0x6a, 0x6a, 0x6a, 0x6a, 0x6a, 0x20, 0x03, 0x41,
	0x03, 0x6c, 0x6a, 0x0b, 0x5a, 0x01, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x00,
	0x2e, 0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x00, 0x6c, 0x20, 0x00, 0x2e,
	0x01, 0x02, 0x20, 0x01, 0x2e, 0x01, 0x50, 0x6c, 0x20, 0x00, 0x2e, 0x01,
	0x04, 0x20, 0x01, 0x2e, 0x01, 0xa0, 0x01, 0x6c, 0x20, 0x00, 0x2e, 0x01,
	0x06, 0x20, 0x01, 0x2e, 0x01, 0xf0, 0x01, 0x6c, 0x20, 0x03, 0x6a, 0x6a,
	0x6a, 0x6a, 0x21, 0x03, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x21, 0x00, 0x20,
	0x01, 0x41, 0xc0, 0x02, 0x6a, 0x21, 0x01, 0x20, 0x04, 0x41, 0x01, 0x6a,
	0x22, 0x04, 0x20, 0x02, 0x47, 0x0d, 0x00, 0x0b, 0x20, 0x03, 0x0b, 0x4d,
	0x00, 0x20, 0x00, 0x41, 0xec, 0x02, 0x6a, 0x2e, 0x01, 0x00, 0x20, 0x01,
	0x41, 0x0a, 0x6a, 0x2e, 0x01, 0x02, 0x6c, 0x20, 0x00, 0x41, 0xa4, 0x01,
	0x6a, 0x2e, 0x01, 0x00, 0x20, 0x01, 0x2e, 0x01, 0x08, 0x6c, 0x20, 0x00,
	0x41, 0x84, 0x02, 0x6a, 0x2e, 0x01, 0x04, 0x20, 0x01, 0x41, 0x07, 0x6a,
	0x2e, 0x01, 0x07, 0x6c, 0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x2e, 0x01,
	0x00, 0x20, 0x01, 0x41, 0x0a, 0x6a, 0x2e, 0x01, 0x00, 0x6c, 0x20, 0x02,
	0x6a, 0x6a, 0x6a, 0x6a, 0x0b };

/* one load of a dot product: from argument arg (0 a, 1 b, 2 s) + c,
 * wrapped to 32 bits, + off, of width w (2: int16, 4: int32) */
struct dload {
	int	 arg;
	uint32_t c, off;
	int	 w;
};

static const struct dload dot4_loads[8] = {
	{ 0, 64, 0, 2 }, { 1, 0, 0, 2 }, { 0, 68, 1, 2 }, { 1, 0, 80, 2 },
	{ 0, 72, 2, 2 }, { 1, 157, 3, 2 }, { 0, 76, 3, 2 }, { 1, 0, 240, 2 },
};

static uint32_t
dload(const uint8_t *mem, const uint32_t *args, const struct dload *l)
{
	uint64_t ea = (uint64_t)(uint32_t)(args[l->arg] + l->c) + l->off;
	int32_t v;

	if (l->w == 2) {
		int16_t x;

		memcpy(&x, mem + ea, 2);
		v = x;
	} else {
		memcpy(&v, mem + ea, 4);
	}
	return (uint32_t)v;
}

/* s + the products of the n load pairs, as C computes it */
static uint32_t
dot_c(const uint8_t *mem, const uint32_t *args, const struct dload *ls,
    int n)
{
	uint32_t s = args[2];

	for (int i = 0; i < n; i++)
		s += dload(mem, args, &ls[2 * i]) *
		    dload(mem, args, &ls[2 * i + 1]);
	return s;
}

static uint32_t
dot_call(bt_wasm_instance *inst, const char *name, const uint32_t *args)
{
	struct bt_wasm_val a[3] = { i32(args[0]), i32(args[1]), i32(args[2]) };
	struct bt_wasm_val r;

	assert_int_equal(bt_wasm_instance_call(inst, name, a, 3, &r, 1), 0);
	return r.u.i32;
}

/* Each load in turn one byte past the end of memory: the trap names the
 * first load out of bounds in the order they run (this one, or one
 * before it from the same argument with a higher address). */
static void
dot_traps(bt_wasm_instance *inst, const char *name, const struct dload *ls,
    const uint32_t *offs)
{
	for (int i = 0; i < 8; i++) {
		uint32_t args[3] = { 0, 0, 0 };
		struct bt_wasm_val a[3], r;
		struct bt_wasm_trap t;
		int first = -1;

		args[ls[i].arg] = 65536u - (uint32_t)ls[i].w + 1 - ls[i].c -
		    ls[i].off;
		for (int j = 0; j < 8 && first < 0; j++)
			if ((uint64_t)(uint32_t)(args[ls[j].arg] + ls[j].c) +
				ls[j].off + (uint32_t)ls[j].w > 65536)
				first = j;
		assert_true(first >= 0 && first <= i);
		for (int j = 0; j < 3; j++)
			a[j] = i32(args[j]);
		assert_int_equal(bt_wasm_instance_call(inst, name, a, 3, &r,
				     1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, offs[first]);
		bt_wasm_instance_reset(inst);
	}
}

static void
test_dot_products(void **state)
{
	static const struct dload dot4w_loads[8] = {
		{ 0, 64, 0, 4 }, { 1, 0, 0, 4 }, { 0, 68, 1, 4 },
		{ 1, 0, 80, 4 }, { 0, 72, 2, 4 }, { 1, 157, 3, 4 },
		{ 0, 76, 3, 4 }, { 1, 0, 240, 4 },
	};
	static const struct dload mac4_loads[8] = {
		{ 0, 64, 0, 2 }, { 1, 0, 0, 2 }, { 0, 68, 1, 2 },
		{ 1, 0, 80, 2 }, { 2, 72, 2, 2 }, { 1, 157, 3, 2 },
		{ 0, 76, 3, 2 }, { 1, 0, 240, 2 },
	};
	static const struct dload mac2_loads[4] = {
		{ 0, 0, 4, 4 }, { 1, 0, 8, 4 }, { 0, 0, 12, 4 }, { 1, 0, 16, 4 },
	};
	static const struct dload mac1_loads[2] = {
		{ 0, 0, 6, 2 }, { 1, 0, 8, 2 },
	};
	static const struct dload dot4c_loads[8] = {
		{ 0, 364, 0, 2 }, { 1, 10, 2, 2 }, { 0, 164, 0, 2 },
		{ 1, 0, 8, 2 }, { 0, 260, 4, 2 }, { 1, 7, 7, 2 },
		{ 0, 64, 0, 2 }, { 1, 10, 0, 2 },
	};
	static const uint32_t dot4_offs[8] = { 107, 112, 122, 127, 137, 146,
		156, 161 };
	static const uint32_t dot4w_offs[8] = { 181, 186, 196, 201, 211, 220,
		230, 235 };
	static const uint32_t mac4_offs[8] = { 255, 260, 270, 275, 285, 294,
		304, 309 };
	static const uint32_t dot4c_offs[8] = { 535, 543, 553, 558, 568, 576,
		586, 594 };
	struct bt_wasm_limits lim = { .fuel = 1 };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;
	uint8_t *mem;
	uint64_t size;
	uint32_t x = 12345;
	int stops;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, dot_wasm, sizeof(dot_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	mem = bt_wasm_instance_memory(inst, &size);
	assert_non_null(mem);
	for (uint32_t i = 0; i < 40000; i++) {
		x = x * 1103515245u + 12345u;
		mem[i] = (uint8_t)(x >> 16);
	}
	for (uint32_t k = 0; k < 40; k++) {
		/* a and b in bounds; a also as a + c wrapping at 32 bits */
		uint32_t args[3] = { 3 * k, 7 * k + 1, k * 0x9e3779b9u };
		/* a + 64 .. a + 76 wrap at 32 bits to 0 .. 22 */
		uint32_t wrap[3] = { (uint32_t)-64 + k % 8, 7 * k + 1, args[2] };
		uint32_t sbase[3] = { args[0], args[1], 11 * k };

		assert_int_equal(dot_call(inst, "dot4", args),
		    dot_c(mem, args, dot4_loads, 4));
		assert_int_equal(dot_call(inst, "dot4w", args),
		    dot_c(mem, args, dot4w_loads, 4));
		assert_int_equal(dot_call(inst, "mac4", sbase),
		    dot_c(mem, sbase, mac4_loads, 4));
		assert_int_equal(dot_call(inst, "dot4c", args),
		    dot_c(mem, args, dot4c_loads, 4));
		assert_int_equal(dot_call(inst, "mac2", args),
		    dot_c(mem, args, mac2_loads, 2));
		assert_int_equal(dot_call(inst, "mac1", args),
		    dot_c(mem, args, mac1_loads, 1));
		/* the slow path of DOT4 */
		assert_int_equal(dot_call(inst, "dot4", wrap),
		    dot_c(mem, wrap, dot4_loads, 4));
		assert_int_equal(dot_call(inst, "dot4w", wrap),
		    dot_c(mem, wrap, dot4w_loads, 4));
		assert_int_equal(dot_call(inst, "dot4c", wrap),
		    dot_c(mem, wrap, dot4c_loads, 4));
		wrap[2] = (uint32_t)-72 + k % 8;
		assert_int_equal(dot_call(inst, "mac4", wrap),
		    dot_c(mem, wrap, mac4_loads, 4));
		/* the near misses */
		{
			const uint32_t a = args[0], b = args[1];
			static const struct dload ml[8] = {
				{ 0, 0, 0, 2 }, { 1, 0, 0, 2 },
				{ 0, 0, 2, 2 }, { 1, 0, 2, 2 },
				{ 0, 0, 4, 4 }, { 1, 0, 4, 4 },
				{ 0, 0, 8, 2 }, { 1, 0, 8, 2 },
			};
			uint32_t t = dload(mem, args, &ml[2]) *
			    dload(mem, args, &ml[3]);
			uint32_t want = args[2] + a * b + t * 4 +
			    dload(mem, args, &ml[0]) *
				dload(mem, args, &ml[1]) +
			    dload(mem, args, &ml[4]) *
				dload(mem, args, &ml[5]) +
			    dload(mem, args, &ml[6]) *
				dload(mem, args, &ml[7]);

			assert_int_equal(dot_call(inst, "miss", args), want);
		}
	}
	dot_traps(inst, "dot4", dot4_loads, dot4_offs);
	dot_traps(inst, "dot4w", dot4w_loads, dot4w_offs);
	dot_traps(inst, "mac4", mac4_loads, mac4_offs);
	dot_traps(inst, "dot4c", dot4c_loads, dot4c_offs);
	bt_wasm_instance_free(inst);
	/* the loop, stopped for fuel at every back-edge */
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, &lim, &d), 0);
	mem = bt_wasm_instance_memory(inst, &size);
	x = 777;
	for (uint32_t i = 0; i < 40000; i++) {
		x = x * 1103515245u + 12345u;
		mem[i] = (uint8_t)(x >> 16);
	}
	{
		struct bt_wasm_val a[3] = { i32(100), i32(200), i32(100) };
		uint32_t want = 0;

		for (uint32_t i = 0; i < 100; i++) {
			uint32_t ar[3] = { 100 + 8 * i, 200 + 320 * i, 0 };
			static const struct dload ll[8] = {
				{ 0, 0, 0, 2 }, { 1, 0, 0, 2 },
				{ 0, 0, 2, 2 }, { 1, 0, 80, 2 },
				{ 0, 0, 4, 2 }, { 1, 0, 160, 2 },
				{ 0, 0, 6, 2 }, { 1, 0, 240, 2 },
			};

			want += dot_c(mem, ar, ll, 4);
		}
		assert_int_equal(loops_run(inst, "loop", a, 3, 1, &stops),
		    want);
		assert_int_equal(stops, 98);
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_loop_head_moves, assembled with wat2wasm from:
 *
 * (module
 *   ;; head moves c = b, b = a; back-edge moves e = d, d = c, f = t: MOV5_BR
 *   (func (export "rot5") (param $n i32) (result i32)
 *     (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
 *     (local $f i32) (local $t i32) (local $i i32)
 *     (local.set $a (i32.const 1)) (local.set $b (i32.const 2))
 *     (local.set $d (i32.const 4)) (local.set $e (i32.const 5))
 *     (block $x
 *       (loop $l
 *         (local.set $c (local.get $b))
 *         (local.set $b (local.get $a))
 *         (local.set $t (i32.add (i32.mul (local.get $b) (i32.const 3))
 *                                (i32.xor (local.get $c) (local.get $d))))
 *         (local.set $a (i32.add (local.get $t) (i32.rotl (local.get $e) (local.get $f))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br_if $x (i32.eq (local.get $i) (local.get $n)))
 *         ;; a continue that runs the head's moves itself
 *         (br_if $l (i32.eqz (i32.and (local.get $i) (i32.const 7))))
 *         (local.set $e (local.get $d))
 *         (local.set $d (local.get $c))
 *         (local.set $f (local.get $t))
 *         (br $l)))
 *     (i32.xor (i32.xor (local.get $a) (i32.rotl (local.get $b) (i32.const 5)))
 *              (i32.add (i32.add (local.get $c) (i32.mul (local.get $d) (i32.const 7)))
 *                       (i32.add (local.get $e) (i32.mul (local.get $f) (i32.const 11))))))
 *   ;; head moves c = b, b = a, g = f; back-edge e = d, d = c, f = e2, h = g,
 *   ;; e2 = t: MOV8_BR
 *   (func (export "rot8") (param $n i32) (result i32)
 *     (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
 *     (local $f i32) (local $g i32) (local $h i32) (local $e2 i32) (local $t i32)
 *     (local $i i32)
 *     (local.set $a (i32.const 1)) (local.set $b (i32.const 2))
 *     (local.set $d (i32.const 4)) (local.set $e (i32.const 5))
 *     (local.set $f (i32.const 6)) (local.set $h (i32.const 8))
 *     (block $x
 *       (loop $l
 *         (local.set $c (local.get $b))
 *         (local.set $b (local.get $a))
 *         (local.set $g (local.get $f))
 *         (local.set $t (i32.add (i32.add (local.get $h) (local.get $e))
 *                                (i32.xor (i32.and (local.get $e) (local.get $f))
 *                                         (i32.and (local.get $g) (local.get $c)))))
 *         (local.set $a (i32.add (local.get $t) (i32.rotl (local.get $b) (i32.const 3))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br_if $x (i32.eq (local.get $i) (local.get $n)))
 *         (local.set $e (local.get $d))
 *         (local.set $d (local.get $c))
 *         (local.set $f (local.get $e2))
 *         (local.set $h (local.get $g))
 *         (local.set $e2 (local.get $t))
 *         (br $l)))
 *     (i32.add
 *       (i32.xor (i32.xor (local.get $a) (i32.mul (local.get $b) (i32.const 3)))
 *                (i32.xor (i32.mul (local.get $c) (i32.const 5)) (i32.mul (local.get $d) (i32.const 7))))
 *       (i32.xor (i32.xor (i32.mul (local.get $e) (i32.const 11)) (i32.mul (local.get $f) (i32.const 13)))
 *                (i32.xor (i32.mul (local.get $g) (i32.const 17))
 *                         (i32.add (i32.mul (local.get $h) (i32.const 19)) (local.get $e2))))))
 *   ;; four at the head and five at the back: nine, not fused
 *   (func (export "rot9") (param $n i32) (result i32)
 *     (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
 *     (local $f i32) (local $g i32) (local $h i32) (local $t i32) (local $i i32)
 *     (local.set $a (i32.const 1)) (local.set $b (i32.const 2))
 *     (local.set $e (i32.const 5)) (local.set $f (i32.const 6))
 *     (block $x
 *       (loop $l
 *         (local.set $c (local.get $b))
 *         (local.set $b (local.get $a))
 *         (local.set $g (local.get $f))
 *         (local.set $h (local.get $e))
 *         (local.set $t (i32.add (i32.mul (local.get $c) (i32.const 3))
 *                                (i32.xor (local.get $g) (local.get $h))))
 *         (local.set $a (i32.add (local.get $t) (local.get $d)))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br_if $x (i32.eq (local.get $i) (local.get $n)))
 *         (local.set $d (local.get $c))
 *         (local.set $e (local.get $g))
 *         (local.set $f (local.get $t))
 *         (local.set $h (local.get $b))
 *         (local.set $g (local.get $a))
 *         (br $l)))
 *     (i32.add (i32.xor (i32.mul (local.get $a) (i32.const 3)) (i32.mul (local.get $b) (i32.const 5)))
 *       (i32.xor (i32.xor (i32.mul (local.get $c) (i32.const 7)) (i32.mul (local.get $d) (i32.const 11)))
 *         (i32.xor (i32.xor (i32.mul (local.get $e) (i32.const 13)) (i32.mul (local.get $f) (i32.const 17)))
 *           (i32.add (i32.mul (local.get $g) (i32.const 19)) (local.get $h))))))
 * )
 *
 * A back-edge to a loop whose first instruction is a MOVm does those
 * moves itself after its own and jumps past them (code.c, trick 23):
 * rot5 becomes MOV5_BR (3 + 2), rot8 MOV8_BR (5 + 3); rot9 (5 + 4) is
 * not fused; the continue of rot5 still runs the head's moves.
 */
static const uint8_t rot_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
	0x01, 0x7f, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00, 0x00, 0x00, 0x07, 0x16,
	0x03, 0x04, 0x72, 0x6f, 0x74, 0x35, 0x00, 0x00, 0x04, 0x72, 0x6f, 0x74,
	0x38, 0x00, 0x01, 0x04, 0x72, 0x6f, 0x74, 0x39, 0x00, 0x02, 0x0a, 0xa9,
	0x03, 0x03, 0x77, 0x01, 0x08, 0x7f, 0x41, 0x01, 0x21, 0x01, 0x41, 0x02,
	0x21, 0x02, 0x41, 0x04, 0x21, 0x04, 0x41, 0x05, 0x21, 0x05, 0x02, 0x40,
	0x03, 0x40, 0x20, 0x02, 0x21, 0x03, 0x20, 0x01, 0x21, 0x02, 0x20, 0x02,
	0x41, 0x03, 0x6c, 0x20, 0x03, 0x20, 0x04, 0x73, 0x6a, 0x21, 0x07, 0x20,
	0x07, 0x20, 0x05, 0x20, 0x06, 0x77, 0x6a, 0x21, 0x01, 0x20, 0x08, 0x41,
	0x01, 0x6a, 0x21, 0x08, 0x20, 0x08, 0x20, 0x00, 0x46, 0x0d, 0x01, 0x20,
	0x08, 0x41, 0x07, 0x71, 0x45, 0x0d, 0x00, 0x20, 0x04, 0x21, 0x05, 0x20,
	0x03, 0x21, 0x04, 0x20, 0x07, 0x21, 0x06, 0x0c, 0x00, 0x0b, 0x0b, 0x20,
	0x01, 0x20, 0x02, 0x41, 0x05, 0x77, 0x73, 0x20, 0x03, 0x20, 0x04, 0x41,
	0x07, 0x6c, 0x6a, 0x20, 0x05, 0x20, 0x06, 0x41, 0x0b, 0x6c, 0x6a, 0x6a,
	0x73, 0x0b, 0x9e, 0x01, 0x01, 0x0b, 0x7f, 0x41, 0x01, 0x21, 0x01, 0x41,
	0x02, 0x21, 0x02, 0x41, 0x04, 0x21, 0x04, 0x41, 0x05, 0x21, 0x05, 0x41,
	0x06, 0x21, 0x06, 0x41, 0x08, 0x21, 0x08, 0x02, 0x40, 0x03, 0x40, 0x20,
	0x02, 0x21, 0x03, 0x20, 0x01, 0x21, 0x02, 0x20, 0x06, 0x21, 0x07, 0x20,
	0x08, 0x20, 0x05, 0x6a, 0x20, 0x05, 0x20, 0x06, 0x71, 0x20, 0x07, 0x20,
	0x03, 0x71, 0x73, 0x6a, 0x21, 0x0a, 0x20, 0x0a, 0x20, 0x02, 0x41, 0x03,
	0x77, 0x6a, 0x21, 0x01, 0x20, 0x0b, 0x41, 0x01, 0x6a, 0x21, 0x0b, 0x20,
	0x0b, 0x20, 0x00, 0x46, 0x0d, 0x01, 0x20, 0x04, 0x21, 0x05, 0x20, 0x03,
	0x21, 0x04, 0x20, 0x09, 0x21, 0x06, 0x20, 0x07, 0x21, 0x08, 0x20, 0x0a,
	0x21, 0x09, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x20, 0x02, 0x41, 0x03,
	0x6c, 0x73, 0x20, 0x03, 0x41, 0x05, 0x6c, 0x20, 0x04, 0x41, 0x07, 0x6c,
	0x73, 0x73, 0x20, 0x05, 0x41, 0x0b, 0x6c, 0x20, 0x06, 0x41, 0x0d, 0x6c,
	0x73, 0x20, 0x07, 0x41, 0x11, 0x6c, 0x20, 0x08, 0x41, 0x13, 0x6c, 0x20,
	0x09, 0x6a, 0x73, 0x73, 0x6a, 0x0b, 0x8e, 0x01, 0x01, 0x0a, 0x7f, 0x41,
	0x01, 0x21, 0x01, 0x41, 0x02, 0x21, 0x02, 0x41, 0x05, 0x21, 0x05, 0x41,
	0x06, 0x21, 0x06, 0x02, 0x40, 0x03, 0x40, 0x20, 0x02, 0x21, 0x03, 0x20,
	0x01, 0x21, 0x02, 0x20, 0x06, 0x21, 0x07, 0x20, 0x05, 0x21, 0x08, 0x20,
	0x03, 0x41, 0x03, 0x6c, 0x20, 0x07, 0x20, 0x08, 0x73, 0x6a, 0x21, 0x09,
	0x20, 0x09, 0x20, 0x04, 0x6a, 0x21, 0x01, 0x20, 0x0a, 0x41, 0x01, 0x6a,
	0x21, 0x0a, 0x20, 0x0a, 0x20, 0x00, 0x46, 0x0d, 0x01, 0x20, 0x03, 0x21,
	0x04, 0x20, 0x07, 0x21, 0x05, 0x20, 0x09, 0x21, 0x06, 0x20, 0x02, 0x21,
	0x08, 0x20, 0x01, 0x21, 0x07, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x41,
	0x03, 0x6c, 0x20, 0x02, 0x41, 0x05, 0x6c, 0x73, 0x20, 0x03, 0x41, 0x07,
	0x6c, 0x20, 0x04, 0x41, 0x0b, 0x6c, 0x73, 0x20, 0x05, 0x41, 0x0d, 0x6c,
	0x20, 0x06, 0x41, 0x11, 0x6c, 0x73, 0x20, 0x07, 0x41, 0x13, 0x6c, 0x20,
	0x08, 0x6a, 0x73, 0x73, 0x6a, 0x0b };

static uint32_t
rotl_c(uint32_t x, uint32_t k)
{
	k &= 31;
	return k ? (x << k) | (x >> (32 - k)) : x;
}

static uint32_t
rot5_c(uint32_t n)
{
	uint32_t a = 1, b = 2, c = 0, d = 4, e = 5, f = 0, t, i = 0;

	for (;;) {
		c = b;
		b = a;
		t = b * 3 + (c ^ d);
		a = t + rotl_c(e, f);
		if (++i == n)
			break;
		if ((i & 7) == 0)
			continue;
		e = d;
		d = c;
		f = t;
	}
	return (a ^ rotl_c(b, 5)) ^ ((c + d * 7) + (e + f * 11));
}

static uint32_t
rot8_c(uint32_t n)
{
	uint32_t a = 1, b = 2, c = 0, d = 4, e = 5, f = 6, g = 0, h = 8;
	uint32_t e2 = 0, t, i = 0;

	for (;;) {
		c = b;
		b = a;
		g = f;
		t = (h + e) + ((e & f) ^ (g & c));
		a = t + rotl_c(b, 3);
		if (++i == n)
			break;
		e = d;
		d = c;
		f = e2;
		h = g;
		e2 = t;
	}
	return ((a ^ b * 3) ^ (c * 5 ^ d * 7)) +
	    ((e * 11 ^ f * 13) ^ (g * 17 ^ (h * 19 + e2)));
}

static uint32_t
rot9_c(uint32_t n)
{
	uint32_t a = 1, b = 2, c = 0, d = 0, e = 5, f = 6, g = 0, h = 0, t;
	uint32_t i = 0;

	for (;;) {
		c = b;
		b = a;
		g = f;
		h = e;
		t = c * 3 + (g ^ h);
		a = t + d;
		if (++i == n)
			break;
		d = c;
		e = g;
		f = t;
		h = b;
		g = a;
	}
	return ((a * 3) ^ (b * 5)) +
	    ((c * 7 ^ d * 11) ^ ((e * 13 ^ f * 17) ^ (g * 19 + h)));
}

static void
test_loop_head_moves(void **state)
{
	static const uint32_t ns[] = { 1, 2, 3, 7, 8, 9, 17, 50 };
	static const struct {
		const char *name;
		uint32_t (*c)(uint32_t);
	} fs[] = {
		{ "rot5", rot5_c }, { "rot8", rot8_c }, { "rot9", rot9_c },
	};
	struct bt_wasm_limits lim = { .fuel = 1 };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, rot_wasm, sizeof(rot_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, &lim, &d), 0);
	for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
		for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
			struct bt_wasm_val arg = i32(ns[k]), res;
			int stops;

			/* stopped for fuel at every back-edge, resumed */
			assert_int_equal(loops_run(inst, fs[f].name, &arg, 1,
					     1, &stops), fs[f].c(ns[k]));
			assert_int_equal(stops, ns[k] >= 2 ? (int)ns[k] - 2 :
							     0);
			/* one unit per back-edge: n - 1 are enough */
			bt_wasm_instance_set_fuel(inst, ns[k] - 1);
			assert_int_equal(bt_wasm_instance_call(inst,
					     fs[f].name, &arg, 1, &res, 1), 0);
			assert_int_equal(res.u.i32, fs[f].c(ns[k]));
			if (ns[k] >= 3) { /* (fuel 0 is no limit) */
				bt_wasm_instance_set_fuel(inst, ns[k] - 2);
				assert_int_equal(bt_wasm_instance_call(inst,
						     fs[f].name, &arg, 1, &res,
						     1), BT_ETRAP);
				bt_wasm_instance_reset(inst);
			}
		}
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_add_shared, assembled with wat2wasm from:
 *
 * (module
 *   (func (export "t1") (param $x i32) (param $y i32) (param $d i32) (result i32)
 *     (local $t i32) (local $a i32) (local $e i32)
 *     (local.set $a (i32.add (i32.xor (local.get $x) (i32.const 5))
 *                            (local.tee $t (i32.add (local.get $y)
 *                                                   (i32.mul (local.get $x) (local.get $d))))))
 *     (local.set $e (i32.add (local.get $t) (local.get $d)))
 *     (i32.xor (local.get $a) (i32.mul (local.get $e) (i32.const 3))))
 *   (func (export "t1r") (param $x i32) (param $y i32) (param $d i32) (result i32)
 *     (local $t i32) (local $a i32) (local $e i32)
 *     (local.set $a (i32.add (i32.xor (local.get $x) (i32.const 5))
 *                            (local.tee $t (i32.add (local.get $y)
 *                                                   (i32.mul (local.get $x) (local.get $d))))))
 *     (local.set $e (i32.add (local.get $d) (local.get $t)))
 *     (i32.xor (local.get $a) (i32.mul (local.get $e) (i32.const 3))))
 *   ;; near misses: the second add reads the first one's result; a sub;
 *   ;; the first add writes the shared local
 *   (func (export "t1o") (param $x i32) (param $y i32) (param $d i32) (result i32)
 *     (local $t i32) (local $a i32) (local $e i32)
 *     (local.set $a (i32.add (i32.xor (local.get $x) (i32.const 5))
 *                            (local.tee $t (i32.add (local.get $y)
 *                                                   (i32.mul (local.get $x) (local.get $d))))))
 *     (local.set $e (i32.add (local.get $t) (local.get $a)))
 *     (i32.xor (local.get $a) (i32.mul (local.get $e) (i32.const 3))))
 *   (func (export "t1s") (param $x i32) (param $y i32) (param $d i32) (result i32)
 *     (local $t i32) (local $a i32) (local $e i32)
 *     (local.set $a (i32.add (i32.xor (local.get $x) (i32.const 5))
 *                            (local.tee $t (i32.add (local.get $y)
 *                                                   (i32.mul (local.get $x) (local.get $d))))))
 *     (local.set $e (i32.sub (local.get $t) (local.get $d)))
 *     (i32.xor (local.get $a) (i32.mul (local.get $e) (i32.const 3))))
 *   (func (export "t1w") (param $x i32) (param $y i32) (param $d i32) (result i32)
 *     (local $t i32) (local $a i32) (local $e i32)
 *     (local.set $t (i32.add (i32.xor (local.get $x) (i32.const 5))
 *                            (local.tee $t (i32.add (local.get $y)
 *                                                   (i32.mul (local.get $x) (local.get $d))))))
 *     (local.set $e (i32.add (local.get $t) (local.get $d)))
 *     (i32.xor (local.get $t) (i32.mul (local.get $e) (i32.const 3))))
 * )
 *
 * t1 and t1r add the local t, which the add before read from acc, to a
 * second value: one I32_ADD2_A (fuse.c, trick 24); t1o, t1s and t1w are
 * the near misses (the second add reads the first one's result, is a
 * sub, or the first add wrote t).
 */
static const uint8_t add2_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60,
	0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x06, 0x05, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x07, 0x1e, 0x05, 0x02, 0x74, 0x31, 0x00, 0x00, 0x03, 0x74,
	0x31, 0x72, 0x00, 0x01, 0x03, 0x74, 0x31, 0x6f, 0x00, 0x02, 0x03, 0x74,
	0x31, 0x73, 0x00, 0x03, 0x03, 0x74, 0x31, 0x77, 0x00, 0x04, 0x0a, 0xbf,
	0x01, 0x05, 0x25, 0x01, 0x03, 0x7f, 0x20, 0x00, 0x41, 0x05, 0x73, 0x20,
	0x01, 0x20, 0x00, 0x20, 0x02, 0x6c, 0x6a, 0x22, 0x03, 0x6a, 0x21, 0x04,
	0x20, 0x03, 0x20, 0x02, 0x6a, 0x21, 0x05, 0x20, 0x04, 0x20, 0x05, 0x41,
	0x03, 0x6c, 0x73, 0x0b, 0x25, 0x01, 0x03, 0x7f, 0x20, 0x00, 0x41, 0x05,
	0x73, 0x20, 0x01, 0x20, 0x00, 0x20, 0x02, 0x6c, 0x6a, 0x22, 0x03, 0x6a,
	0x21, 0x04, 0x20, 0x02, 0x20, 0x03, 0x6a, 0x21, 0x05, 0x20, 0x04, 0x20,
	0x05, 0x41, 0x03, 0x6c, 0x73, 0x0b, 0x25, 0x01, 0x03, 0x7f, 0x20, 0x00,
	0x41, 0x05, 0x73, 0x20, 0x01, 0x20, 0x00, 0x20, 0x02, 0x6c, 0x6a, 0x22,
	0x03, 0x6a, 0x21, 0x04, 0x20, 0x03, 0x20, 0x04, 0x6a, 0x21, 0x05, 0x20,
	0x04, 0x20, 0x05, 0x41, 0x03, 0x6c, 0x73, 0x0b, 0x25, 0x01, 0x03, 0x7f,
	0x20, 0x00, 0x41, 0x05, 0x73, 0x20, 0x01, 0x20, 0x00, 0x20, 0x02, 0x6c,
	0x6a, 0x22, 0x03, 0x6a, 0x21, 0x04, 0x20, 0x03, 0x20, 0x02, 0x6b, 0x21,
	0x05, 0x20, 0x04, 0x20, 0x05, 0x41, 0x03, 0x6c, 0x73, 0x0b, 0x25, 0x01,
	0x03, 0x7f, 0x20, 0x00, 0x41, 0x05, 0x73, 0x20, 0x01, 0x20, 0x00, 0x20,
	0x02, 0x6c, 0x6a, 0x22, 0x03, 0x6a, 0x21, 0x03, 0x20, 0x03, 0x20, 0x02,
	0x6a, 0x21, 0x05, 0x20, 0x03, 0x20, 0x05, 0x41, 0x03, 0x6c, 0x73, 0x0b };

static void
test_add_shared(void **state)
{
	static const char *const names[] = { "t1", "t1r", "t1o", "t1s", "t1w" };
	static const uint32_t vals[] = { 0, 1, 5, 0x7fffffffu, 0x80000000u,
		0xdeadbeefu, 0xffffffffu };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, add2_wasm, sizeof(add2_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	for (size_t i = 0; i < 7; i++) {
		for (size_t j = 0; j < 7; j++) {
			uint32_t x = vals[i], y = vals[j], dd = vals[(i + j) % 7];
			struct bt_wasm_val args[3] = { i32(x), i32(y), i32(dd) };
			uint32_t t = y + x * dd, a = (x ^ 5) + t, want[5];
			struct bt_wasm_val r;

			want[0] = a ^ ((t + dd) * 3);
			want[1] = want[0];
			want[2] = a ^ ((t + a) * 3);
			want[3] = a ^ ((t - dd) * 3);
			want[4] = a ^ ((a + dd) * 3);
			for (size_t f = 0; f < 5; f++) {
				assert_int_equal(bt_wasm_instance_call(inst,
						     names[f], args, 3, &r, 1),
				    0);
				assert_int_equal(r.u.i32, want[f]);
			}
		}
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_sigma_sums, assembled with wat2wasm from:
 *
 * (module
 *   ;; Sigma0(x) + maj(x, b, c), in SHA-256's order
 *   (func (export "s0maj") (param $x i32) (param $a i32) (result i32) (local $b i32) (local $c i32)
 *     (local.set $b (i32.add (local.get $a) (i32.const 0x1234567)))
 *     (local.set $c (i32.mul (local.get $a) (i32.const 3)))
 *     (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 30))
 *                       (i32.rotl (local.get $x) (i32.const 19)))
 *              (i32.rotl (local.get $x) (i32.const 10)))
 *     (i32.xor (i32.and (local.get $x) (i32.xor (local.get $b) (local.get $c)))
 *              (i32.and (local.get $b) (local.get $c)))
 *     i32.add)
 *   ;; h + Sigma1(e) + (f & e) + (g & ~e), in SHA-256's order: the first
 *   ;; sum's result goes to the next add through acc (its no-store twin)
 *   (func (export "s1t1") (param $e i32) (param $h i32) (result i32) (local $f i32) (local $g i32)
 *     (local.set $f (i32.xor (local.get $h) (i32.const 0x5a5a5a5a)))
 *     (local.set $g (i32.add (local.get $e) (local.get $h)))
 *     (i32.xor (i32.xor (i32.rotl (local.get $e) (i32.const 26))
 *                       (i32.rotl (local.get $e) (i32.const 21)))
 *              (i32.rotl (local.get $e) (i32.const 7)))
 *     (i32.and (local.get $f) (local.get $e))
 *     i32.add
 *     local.get $h
 *     i32.add
 *     (i32.and (local.get $g) (i32.xor (local.get $e) (i32.const -1)))
 *     i32.add)
 *   ;; the same, the sum also kept in a local (no twin)
 *   (func (export "s1keep") (param $e i32) (param $h i32) (result i32) (local $f i32) (local $s i32)
 *     (local.set $f (i32.xor (local.get $h) (i32.const 0x5a5a5a5a)))
 *     (i32.xor (i32.xor (i32.rotl (local.get $e) (i32.const 26))
 *                       (i32.rotl (local.get $e) (i32.const 21)))
 *              (i32.rotl (local.get $e) (i32.const 7)))
 *     (i32.and (local.get $f) (local.get $e))
 *     i32.add
 *     local.get $h
 *     i32.add
 *     local.set $s
 *     (i32.xor (local.get $s) (i32.mul (local.get $s) (i32.const 7))))
 *   ;; near misses: the rotations kept in a local and read again; a
 *   ;; rotation of another value between
 *   (func (export "s0tee") (param $x i32) (param $a i32) (result i32) (local $b i32) (local $c i32) (local $s i32)
 *     (local.set $b (i32.add (local.get $a) (i32.const 0x1234567)))
 *     (local.set $c (i32.mul (local.get $a) (i32.const 3)))
 *     (local.tee $s (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 30))
 *                                     (i32.rotl (local.get $x) (i32.const 19)))
 *                            (i32.rotl (local.get $x) (i32.const 10))))
 *     (i32.xor (i32.and (local.get $x) (i32.xor (local.get $b) (local.get $c)))
 *              (i32.and (local.get $b) (local.get $c)))
 *     i32.add
 *     (i32.mul (local.get $s) (i32.const 5))
 *     i32.xor)
 *   (func (export "s1mix") (param $e i32) (param $h i32) (result i32) (local $f i32)
 *     (local.set $f (i32.xor (local.get $h) (i32.const 0x5a5a5a5a)))
 *     (i32.xor (i32.xor (i32.rotl (local.get $e) (i32.const 26))
 *                       (i32.rotl (local.get $e) (i32.const 21)))
 *              (i32.rotl (local.get $h) (i32.const 7)))
 *     (i32.and (local.get $f) (local.get $e))
 *     i32.add
 *     local.get $h
 *     i32.add)
 * )
 *
 * The xor of three rotations into a temporary that the next instruction
 * adds is computed by it (fuse.c, trick 26): s0maj is one
 * I32_ROT3X_ADD_MAJ, s1t1 an I32_ROT3X_ADD3_AND_N (its sum goes on in
 * acc) and s1keep an I32_ROT3X_ADD3_AND; s0tee and s1mix are not fused.
 */
static const uint8_t sig_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,
	0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x06, 0x05, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x07, 0x29, 0x05, 0x05, 0x73, 0x30, 0x6d, 0x61, 0x6a, 0x00, 0x00,
	0x04, 0x73, 0x31, 0x74, 0x31, 0x00, 0x01, 0x06, 0x73, 0x31, 0x6b, 0x65,
	0x65, 0x70, 0x00, 0x02, 0x05, 0x73, 0x30, 0x74, 0x65, 0x65, 0x00, 0x03,
	0x05, 0x73, 0x31, 0x6d, 0x69, 0x78, 0x00, 0x04, 0x0a, 0x8d, 0x02, 0x05,
	0x35, 0x01, 0x02, 0x7f, 0x20, 0x01, 0x41, 0xe7, 0x8a, 0x8d, 0x09, 0x6a,
	0x21, 0x02, 0x20, 0x01, 0x41, 0x03, 0x6c, 0x21, 0x03, 0x20, 0x00, 0x41,
	0x1e, 0x77, 0x20, 0x00, 0x41, 0x13, 0x77, 0x73, 0x20, 0x00, 0x41, 0x0a,
	0x77, 0x73, 0x20, 0x00, 0x20, 0x02, 0x20, 0x03, 0x73, 0x71, 0x20, 0x02,
	0x20, 0x03, 0x71, 0x73, 0x6a, 0x0b, 0x39, 0x01, 0x02, 0x7f, 0x20, 0x01,
	0x41, 0xda, 0xb4, 0xe9, 0xd2, 0x05, 0x73, 0x21, 0x02, 0x20, 0x00, 0x20,
	0x01, 0x6a, 0x21, 0x03, 0x20, 0x00, 0x41, 0x1a, 0x77, 0x20, 0x00, 0x41,
	0x15, 0x77, 0x73, 0x20, 0x00, 0x41, 0x07, 0x77, 0x73, 0x20, 0x02, 0x20,
	0x00, 0x71, 0x6a, 0x20, 0x01, 0x6a, 0x20, 0x03, 0x20, 0x00, 0x41, 0x7f,
	0x73, 0x71, 0x6a, 0x0b, 0x33, 0x01, 0x02, 0x7f, 0x20, 0x01, 0x41, 0xda,
	0xb4, 0xe9, 0xd2, 0x05, 0x73, 0x21, 0x02, 0x20, 0x00, 0x41, 0x1a, 0x77,
	0x20, 0x00, 0x41, 0x15, 0x77, 0x73, 0x20, 0x00, 0x41, 0x07, 0x77, 0x73,
	0x20, 0x02, 0x20, 0x00, 0x71, 0x6a, 0x20, 0x01, 0x6a, 0x21, 0x03, 0x20,
	0x03, 0x20, 0x03, 0x41, 0x07, 0x6c, 0x73, 0x0b, 0x3d, 0x01, 0x03, 0x7f,
	0x20, 0x01, 0x41, 0xe7, 0x8a, 0x8d, 0x09, 0x6a, 0x21, 0x02, 0x20, 0x01,
	0x41, 0x03, 0x6c, 0x21, 0x03, 0x20, 0x00, 0x41, 0x1e, 0x77, 0x20, 0x00,
	0x41, 0x13, 0x77, 0x73, 0x20, 0x00, 0x41, 0x0a, 0x77, 0x73, 0x22, 0x04,
	0x20, 0x00, 0x20, 0x02, 0x20, 0x03, 0x73, 0x71, 0x20, 0x02, 0x20, 0x03,
	0x71, 0x73, 0x6a, 0x20, 0x04, 0x41, 0x05, 0x6c, 0x73, 0x0b, 0x29, 0x01,
	0x01, 0x7f, 0x20, 0x01, 0x41, 0xda, 0xb4, 0xe9, 0xd2, 0x05, 0x73, 0x21,
	0x02, 0x20, 0x00, 0x41, 0x1a, 0x77, 0x20, 0x00, 0x41, 0x15, 0x77, 0x73,
	0x20, 0x01, 0x41, 0x07, 0x77, 0x73, 0x20, 0x02, 0x20, 0x00, 0x71, 0x6a,
	0x20, 0x01, 0x6a, 0x0b };

static void
test_sigma_sums(void **state)
{
	static const uint32_t vals[] = { 0, 1, 0x80000000u, 0x6a09e667u,
		0xbb67ae85u, 0xffffffffu, 0x12345678u };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, sig_wasm, sizeof(sig_wasm),
			     &d), 0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	for (size_t i = 0; i < 7; i++) {
		for (size_t j = 0; j < 7; j++) {
			uint32_t x = vals[i], a = vals[j];
			struct bt_wasm_val args[2] = { i32(x), i32(a) }, r;
			uint32_t b = a + 0x1234567u, c = a * 3;
			uint32_t s0 = rotl_c(x, 30) ^ rotl_c(x, 19) ^
			    rotl_c(x, 10);
			uint32_t maj = (x & (b ^ c)) ^ (b & c);
			/* e = x, h = a */
			uint32_t f = a ^ 0x5a5a5a5au, g = x + a;
			uint32_t s1 = rotl_c(x, 26) ^ rotl_c(x, 21) ^
			    rotl_c(x, 7);
			uint32_t t = s1 + (f & x) + a;
			uint32_t want[5] = {
				s0 + maj,
				t + (g & ~x),
				t ^ (t * 7),
				(s0 + maj) ^ (s0 * 5),
				(rotl_c(x, 26) ^ rotl_c(x, 21) ^ rotl_c(a, 7)) +
				    (f & x) + a,
			};
			static const char *const names[5] = { "s0maj", "s1t1",
				"s1keep", "s0tee", "s1mix" };

			for (int k = 0; k < 5; k++) {
				assert_int_equal(bt_wasm_instance_call(inst,
						     names[k], args, 2, &r, 1),
				    0);
				assert_int_equal(r.u.i32, want[k]);
			}
		}
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

/* The module of test_sigma_load, assembled with wat2wasm from:
 *
 * (module
 *   (memory 1)
 *   ;; x + sigma0(v), v loaded into a local just before and read again
 *   (func (export "sg0") (param $p i32) (param $x i32) (result i32) (local $v i32)
 *     (local.set $v (i32.load offset=4 (local.get $p)))
 *     (i32.add (local.get $x)
 *              (i32.xor (i32.xor (i32.rotl (local.get $v) (i32.const 25))
 *                                (i32.rotl (local.get $v) (i32.const 14)))
 *                       (i32.shr_u (local.get $v) (i32.const 3))))
 *     (i32.mul (local.get $v) (i32.const 3))
 *     i32.xor)
 *   ;; the load's address an add, and the sum going on through acc
 *   (func (export "sg1") (param $p i32) (param $x i32) (result i32) (local $v i32)
 *     (local.set $v (i32.load offset=56 (i32.add (local.get $p) (i32.const 8))))
 *     (i32.add (local.get $x)
 *              (i32.xor (i32.xor (i32.rotl (local.get $v) (i32.const 15))
 *                                (i32.rotl (local.get $v) (i32.const 13)))
 *                       (i32.shr_u (local.get $v) (i32.const 10))))
 *     (i32.load offset=12 (local.get $p))
 *     i32.add
 *     (i32.mul (local.get $v) (i32.const 5))
 *     i32.xor)
 *   ;; x is the loaded value itself
 *   (func (export "sgx") (param $p i32) (param $x i32) (result i32) (local $v i32)
 *     (local.set $v (i32.load offset=4 (local.get $p)))
 *     (i32.add (local.get $v)
 *              (i32.xor (i32.xor (i32.rotl (local.get $v) (i32.const 25))
 *                                (i32.rotl (local.get $v) (i32.const 14)))
 *                       (i32.shr_u (local.get $v) (i32.const 3)))))
 *   ;; near miss: the rotations are of x, not of the loaded value
 *   (func (export "sgm") (param $p i32) (param $x i32) (result i32) (local $v i32)
 *     (local.set $v (i32.load offset=4 (local.get $p)))
 *     (i32.add (local.get $v)
 *              (i32.xor (i32.xor (i32.rotl (local.get $x) (i32.const 25))
 *                                (i32.rotl (local.get $x) (i32.const 14)))
 *                       (i32.shr_u (local.get $x) (i32.const 3)))))
 * )
 *
 * x + sigma(v) where v was loaded into a local just before takes the load
 * in (fuse.c, trick 27): sg0, sgx I32_ADD_ROT2SHRX_LD, sg1 its no-store
 * twin; sgm is not fused. The first loads are at byte offsets 66, 107,
 * 151 and 183 of the module.
 */
static const uint8_t sg_wasm[] = {
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,
	0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x05, 0x04, 0x00, 0x00, 0x00, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x19, 0x04, 0x03, 0x73, 0x67, 0x30,
	0x00, 0x00, 0x03, 0x73, 0x67, 0x31, 0x00, 0x01, 0x03, 0x73, 0x67, 0x78,
	0x00, 0x02, 0x03, 0x73, 0x67, 0x6d, 0x00, 0x03, 0x0a, 0x96, 0x01, 0x04,
	0x25, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x28, 0x02, 0x04, 0x21, 0x02, 0x20,
	0x01, 0x20, 0x02, 0x41, 0x19, 0x77, 0x20, 0x02, 0x41, 0x0e, 0x77, 0x73,
	0x20, 0x02, 0x41, 0x03, 0x76, 0x73, 0x6a, 0x20, 0x02, 0x41, 0x03, 0x6c,
	0x73, 0x0b, 0x2e, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x28,
	0x02, 0x38, 0x21, 0x02, 0x20, 0x01, 0x20, 0x02, 0x41, 0x0f, 0x77, 0x20,
	0x02, 0x41, 0x0d, 0x77, 0x73, 0x20, 0x02, 0x41, 0x0a, 0x76, 0x73, 0x6a,
	0x20, 0x00, 0x28, 0x02, 0x0c, 0x6a, 0x20, 0x02, 0x41, 0x05, 0x6c, 0x73,
	0x0b, 0x1f, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x28, 0x02, 0x04, 0x21, 0x02,
	0x20, 0x02, 0x20, 0x02, 0x41, 0x19, 0x77, 0x20, 0x02, 0x41, 0x0e, 0x77,
	0x73, 0x20, 0x02, 0x41, 0x03, 0x76, 0x73, 0x6a, 0x0b, 0x1f, 0x01, 0x01,
	0x7f, 0x20, 0x00, 0x28, 0x02, 0x04, 0x21, 0x02, 0x20, 0x02, 0x20, 0x01,
	0x41, 0x19, 0x77, 0x20, 0x01, 0x41, 0x0e, 0x77, 0x73, 0x20, 0x01, 0x41,
	0x03, 0x76, 0x73, 0x6a, 0x0b };

static void
test_sigma_load(void **state)
{
	static const uint32_t offs[4] = { 66, 107, 151, 183 };
	static const char *const names[4] = { "sg0", "sg1", "sgx", "sgm" };
	bt_wasm_module *m;
	bt_wasm_instance *inst;
	struct bt_diag d;
	uint8_t *mem;
	uint64_t size;
	uint32_t z = 99;

	(void)state;
	assert_int_equal(bt_wasm_module_new(&m, sg_wasm, sizeof(sg_wasm), &d),
	    0);
	assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d), 0);
	mem = bt_wasm_instance_memory(inst, &size);
	assert_non_null(mem);
	for (uint32_t i = 0; i < 4096; i++) {
		z = z * 1103515245u + 12345u;
		mem[i] = (uint8_t)(z >> 16);
	}
	for (uint32_t p = 0; p < 2000; p += 37) {
		for (uint32_t k = 0; k < 3; k++) {
			uint32_t x = k * 0x9e3779b9u, v, w, a, want[4];
			struct bt_wasm_val args[2] = { i32(p), i32(x) }, r;

			memcpy(&v, mem + p + 4, 4);
			want[0] = (x + (rotl_c(v, 25) ^ rotl_c(v, 14) ^
					   (v >> 3))) ^ (v * 3);
			want[2] = v + (rotl_c(v, 25) ^ rotl_c(v, 14) ^
					  (v >> 3));
			want[3] = v + (rotl_c(x, 25) ^ rotl_c(x, 14) ^
					  (x >> 3));
			memcpy(&v, mem + p + 64, 4);
			memcpy(&w, mem + p + 12, 4);
			a = x + (rotl_c(v, 15) ^ rotl_c(v, 13) ^ (v >> 10));
			want[1] = (a + w) ^ (v * 5);
			for (int f = 0; f < 4; f++) {
				assert_int_equal(bt_wasm_instance_call(inst,
						     names[f], args, 2, &r, 1),
				    0);
				assert_int_equal(r.u.i32, want[f]);
			}
		}
	}
	/* the load still reports its own offset */
	for (int f = 0; f < 4; f++) {
		struct bt_wasm_val args[2] = { i32(f == 1 ? 65536 - 67 : 65533),
			i32(1) }, r;
		struct bt_wasm_trap t;

		assert_int_equal(bt_wasm_instance_call(inst, names[f], args, 2,
				     &r, 1), BT_ETRAP);
		bt_wasm_instance_trap(inst, &t);
		assert_int_equal(t.kind, BT_WASM_TRAP_MEMORY_OOB);
		assert_int_equal(t.offset, offs[f]);
		bt_wasm_instance_reset(inst);
	}
	bt_wasm_instance_free(inst);
	bt_wasm_module_free(m);
}

static void
test_interrupt_before(void **state)
{
	struct bt_wasm_trap t;
	struct fix f;

	fix_new(&f, NULL);
	bt_wasm_instance_interrupt(f.inst);
	assert_int_equal(bt_wasm_instance_call(f.inst, "spin", NULL, 0, NULL, 0),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_INTERRUPTED);
	assert_true(t.resumable);
	assert_string_equal(bt_wasm_trap_kind_name(t.kind), "interrupted");
	bt_wasm_instance_reset(f.inst);
	fix_free(&f);
}

struct poker {
	bt_wasm_instance *inst;
	volatile uint32_t *counter;
};

static void *
poke(void *arg)
{
	struct poker *p = arg;

	/* Wait until the guest has visibly run, then stop it. */
	while (__atomic_load_n(p->counter, __ATOMIC_RELAXED) < 100000)
		;
	bt_wasm_instance_interrupt(p->inst);
	return NULL;
}

static void
test_interrupt_thread(void **state)
{
	struct bt_wasm_trap t;
	struct poker p;
	pthread_t th;
	size_t size;
	struct fix f;
	uint32_t seen;

	fix_new(&f, NULL);
	p.inst = f.inst;
	p.counter = (volatile uint32_t *)bt_wasm_instance_memory(f.inst, &size);
	assert_int_equal(size, 65536);
	assert_int_equal(pthread_create(&th, NULL, poke, &p), 0);
	assert_int_equal(bt_wasm_instance_call(f.inst, "spin", NULL, 0, NULL, 0),
	    BT_ETRAP);
	pthread_join(th, NULL);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_INTERRUPTED);
	seen = *p.counter;
	assert_true(seen >= 100000);
	/* The run can continue where it stopped, and stop again. */
	bt_wasm_instance_interrupt(f.inst);
	assert_int_equal(bt_wasm_instance_resume(f.inst, NULL, 0), BT_ETRAP);
	assert_true(*p.counter >= seen);
	bt_wasm_instance_reset(f.inst);
	fix_free(&f);
}

static void
test_deadline(void **state)
{
	struct bt_wasm_limits lim = { 0 };
	struct bt_wasm_trap t;
	struct fix f;
	uint64_t t0;

	t0 = bt_time_mono_ns();
	lim.deadline_ns = t0 + 50 * 1000000ull;
	fix_new(&f, &lim);
	assert_int_equal(bt_wasm_instance_call(f.inst, "spin", NULL, 0, NULL, 0),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_DEADLINE);
	assert_true(bt_time_mono_ns() >= lim.deadline_ns);
	bt_wasm_instance_reset(f.inst);
	fix_free(&f);
}

static void
test_call_depth(void **state)
{
	struct bt_wasm_limits lim = { .max_call_depth = 100 };
	struct bt_wasm_val arg, res;
	struct bt_wasm_trap t;
	struct fix f;

	fix_new(&f, &lim);
	arg = i32(90);
	assert_int_equal(bt_wasm_instance_call(f.inst, "rec", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 90);
	arg = i32(1000);
	assert_int_equal(bt_wasm_instance_call(f.inst, "rec", &arg, 1, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_STACK_EXHAUSTED);
	assert_false(t.resumable);
	/* The instance is usable after a trap. */
	arg = i32(10);
	assert_int_equal(bt_wasm_instance_call(f.inst, "rec", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 10);
	fix_free(&f);
}

static void
test_value_stack_limit(void **state)
{
	/* A tiny value stack runs out before the call depth does. */
	struct bt_wasm_limits lim = { .max_stack_slots = 1024 };
	struct bt_wasm_val arg = i32(100000), res;
	struct bt_wasm_trap t;
	struct fix f;

	fix_new(&f, &lim);
	assert_int_equal(bt_wasm_instance_call(f.inst, "rec", &arg, 1, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_STACK_EXHAUSTED);
	fix_free(&f);
}

static void
test_trap_details(void **state)
{
	struct bt_wasm_val args[2] = { i32(7), i32(0) }, res;
	struct bt_wasm_trap t;
	struct fix f;

	fix_new(&f, NULL);
	assert_int_equal(bt_wasm_instance_call(f.inst, "div", args, 2, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_DIV_ZERO);
	assert_int_equal(t.func, DIV_FUNC);
	assert_int_equal(t.offset, DIV_S_OFFSET);
	assert_string_equal(t.msg, "integer divide by zero");
	args[0] = i32(0x80000000u);
	args[1] = i32(0xffffffffu);
	assert_int_equal(bt_wasm_instance_call(f.inst, "div", args, 2, &res, 1),
	    BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_INT_OVERFLOW);
	/* Type and count mismatches are refused before running. */
	args[1].type = BT_WASM_I64;
	assert_int_equal(bt_wasm_instance_call(f.inst, "div", args, 2, &res, 1),
	    -EINVAL);
	assert_int_equal(bt_wasm_instance_call(f.inst, "div", args, 1, &res, 1),
	    -EINVAL);
	assert_int_equal(bt_wasm_instance_call(f.inst, "nope", NULL, 0, NULL, 0),
	    -ENOENT);
	fix_free(&f);
}

static void
test_host_functions(void **state)
{
	struct bt_wasm_val args[2] = { i32(40), i32(2) }, res;
	struct bt_wasm_trap t;
	struct fix f;

	fix_new(&f, NULL);
	assert_int_equal(bt_wasm_instance_call(f.inst, "call_add", args, 2,
			     &res, 1), 0);
	assert_int_equal(res.u.i32, 42);
	assert_int_equal(f.add_calls, 1);
	args[0] = i32(3);
	assert_int_equal(bt_wasm_instance_call(f.inst, "call_exit", args, 1,
			     NULL, 0), BT_WASM_EXITED);
	assert_int_equal(bt_wasm_instance_exit_status(f.inst), 3);
	assert_int_equal(bt_wasm_instance_call(f.inst, "call_fail", NULL, 0,
			     NULL, 0), BT_ETRAP);
	bt_wasm_instance_trap(f.inst, &t);
	assert_int_equal(t.kind, BT_WASM_TRAP_HOST);
	assert_string_equal(t.msg, "no luck here");
	fix_free(&f);
}

static void
test_memory_limit(void **state)
{
	struct bt_wasm_limits lim = { .max_memory_bytes = 2 * 65536 };
	struct bt_wasm_val arg, res;
	struct bt_call;
	struct fix f;
	uint8_t *base, *base2;
	size_t size;

	fix_new(&f, &lim);
	base = bt_wasm_instance_memory(f.inst, &size);
	assert_non_null(base);
	assert_int_equal(size, 65536);
	arg = i32(1);
	assert_int_equal(bt_wasm_instance_call(f.inst, "grow", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 1); /* old size */
	/* The module allows 4 pages, the limit 2: growing further fails. */
	assert_int_equal(bt_wasm_instance_call(f.inst, "grow", &arg, 1, &res, 1),
	    0);
	assert_int_equal(res.u.i32, 0xffffffffu);
	base2 = bt_wasm_instance_memory(f.inst, &size);
	assert_ptr_equal(base, base2);
	assert_int_equal(size, 2 * 65536);
	base[2 * 65536 - 1] = 7; /* the whole new page is usable */
	fix_free(&f);

	/* A module whose minimum exceeds the limit does not instantiate. */
	{
		struct bt_wasm_limits tiny = { .max_memory_bytes = 1000 };
		bt_wasm_instance *inst;
		struct bt_diag d;

		assert_int_equal(bt_wasm_module_new(&f.m, limits_wasm,
				     sizeof(limits_wasm), &d), 0);
		assert_int_equal(bt_wasm_linker_new(&f.l), 0);
		assert_int_equal(bt_wasm_linker_define_func(f.l, "env", "exit",
				     "i", "", host_exit, NULL), 0);
		assert_int_equal(bt_wasm_linker_define_func(f.l, "env", "fail",
				     "", "", host_fail, NULL), 0);
		/* "add" missing: unlinkable */
		assert_int_equal(bt_wasm_instance_new(&inst, f.m, f.l, &tiny, &d),
		    -ENOENT);
		assert_non_null(strstr(d.msg, "env.add"));
		assert_int_equal(bt_wasm_linker_define_func(f.l, "env", "add",
				     "i", "i", host_add, NULL), 0);
		assert_int_equal(bt_wasm_instance_new(&inst, f.m, f.l, &tiny, &d),
		    -EINVAL); /* wrong signature */
		bt_wasm_linker_free(f.l);
		bt_wasm_module_free(f.m);
	}
}

static void
test_linker_errors(void **state)
{
	bt_wasm_linker *l;

	assert_int_equal(bt_wasm_linker_new(&l), 0);
	assert_int_equal(bt_wasm_linker_define_func(l, "m", "f", "iq", "",
			     host_fail, NULL), -EINVAL);
	assert_int_equal(bt_wasm_linker_define_func(l, "m", "f", "iI", "fF",
			     host_fail, NULL), 0);
	assert_int_equal(bt_wasm_linker_define_func(l, "m", "f", "", "",
			     host_fail, NULL), -EEXIST);
	bt_wasm_linker_free(l);
	bt_wasm_linker_free(NULL);
	bt_wasm_instance_free(NULL);
	bt_wasm_module_free(NULL);
}

static void
test_instantiate_cost(void **state)
{
	/* (module (func (export "_start"))) */
	static const uint8_t tiny[] = {
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04,
		0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03,
		0x01, 0x00, 0x01, 0x07, 0x0a, 0x01, 0x06, 0x5f, 0x73, 0x74,
		0x61, 0x72, 0x74, 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00,
		0x0b,
	};
	const int n = 2000;
	bt_wasm_module *m;
	struct bt_diag d;
	uint64_t t0, per;

	assert_int_equal(bt_wasm_module_new(&m, tiny, sizeof(tiny), &d), 0);
	t0 = bt_time_mono_ns();
	for (int i = 0; i < n; i++) {
		bt_wasm_instance *inst;

		assert_int_equal(bt_wasm_instance_new(&inst, m, NULL, NULL, &d),
		    0);
		assert_int_equal(bt_wasm_instance_call(inst, "_start", NULL, 0,
				     NULL, 0), 0);
		bt_wasm_instance_free(inst);
	}
	per = (bt_time_mono_ns() - t0) / n;
	printf("instantiate + call + free of a trivial module: %llu ns\n",
	    (unsigned long long)per);
	/* The target is 50 us; allow slack for sanitizers and loaded CI. */
	assert_true(per < 500000);
	bt_wasm_module_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuel_suspend_resume),
		cmocka_unit_test(test_fuel_exact),
		cmocka_unit_test(test_fuel_fused_loop_latch),
		cmocka_unit_test(test_trap_offset_in_fused_loads),
		cmocka_unit_test(test_fuel_fused_call),
		cmocka_unit_test(test_fused_bit_ops),
		cmocka_unit_test(test_acc_forms),
		cmocka_unit_test(test_load_select),
		cmocka_unit_test(test_dot_products),
		cmocka_unit_test(test_loop_head_moves),
		cmocka_unit_test(test_add_shared),
		cmocka_unit_test(test_sigma_sums),
		cmocka_unit_test(test_sigma_load),
		cmocka_unit_test(test_fused_latches_and_rmw),
		cmocka_unit_test(test_interrupt_before),
		cmocka_unit_test(test_interrupt_thread),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_call_depth),
		cmocka_unit_test(test_value_stack_limit),
		cmocka_unit_test(test_trap_details),
		cmocka_unit_test(test_host_functions),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_linker_errors),
		cmocka_unit_test(test_instantiate_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
