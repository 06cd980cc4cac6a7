/* objc_msgSend for GCC's Objective-C runtime, which has only
 * objc_msg_lookup(receiver, selector) -> IMP. The trampoline keeps every
 * argument register (and the stack, where arguments past the registers
 * are), asks for the method, and jumps to it, so the callee sees the
 * call exactly as the caller made it - as Apple's objc_msgSend does. */
#if defined(__x86_64__)
	.text
	.globl	objc_msgSend
	.type	objc_msgSend, @function
objc_msgSend:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	subq	$192, %rsp
	movq	%rdi, 0(%rsp)
	movq	%rsi, 8(%rsp)
	movq	%rdx, 16(%rsp)
	movq	%rcx, 24(%rsp)
	movq	%r8, 32(%rsp)
	movq	%r9, 40(%rsp)
	movq	%rax, 48(%rsp)
	movups	%xmm0, 56(%rsp)
	movups	%xmm1, 72(%rsp)
	movups	%xmm2, 88(%rsp)
	movups	%xmm3, 104(%rsp)
	movups	%xmm4, 120(%rsp)
	movups	%xmm5, 136(%rsp)
	movups	%xmm6, 152(%rsp)
	movups	%xmm7, 168(%rsp)
	call	objc_msg_lookup@PLT
	movq	%rax, %r11
	movq	0(%rsp), %rdi
	movq	8(%rsp), %rsi
	movq	16(%rsp), %rdx
	movq	24(%rsp), %rcx
	movq	32(%rsp), %r8
	movq	40(%rsp), %r9
	movq	48(%rsp), %rax
	movups	56(%rsp), %xmm0
	movups	72(%rsp), %xmm1
	movups	88(%rsp), %xmm2
	movups	104(%rsp), %xmm3
	movups	120(%rsp), %xmm4
	movups	136(%rsp), %xmm5
	movups	152(%rsp), %xmm6
	movups	168(%rsp), %xmm7
	leave
	.cfi_def_cfa %rsp, 8
	jmp	*%r11
	.cfi_endproc
	.size	objc_msgSend, .-objc_msgSend
#elif defined(__aarch64__)
	.text
	.globl	objc_msgSend
	.type	objc_msgSend, %function
objc_msgSend:
	stp	x29, x30, [sp, #-224]!
	mov	x29, sp
	stp	x0, x1, [sp, #16]
	stp	x2, x3, [sp, #32]
	stp	x4, x5, [sp, #48]
	stp	x6, x7, [sp, #64]
	str	x8, [sp, #80]
	stp	q0, q1, [sp, #96]
	stp	q2, q3, [sp, #128]
	stp	q4, q5, [sp, #160]
	stp	q6, q7, [sp, #192]
	bl	objc_msg_lookup
	mov	x16, x0
	ldp	x0, x1, [sp, #16]
	ldp	x2, x3, [sp, #32]
	ldp	x4, x5, [sp, #48]
	ldp	x6, x7, [sp, #64]
	ldr	x8, [sp, #80]
	ldp	q0, q1, [sp, #96]
	ldp	q2, q3, [sp, #128]
	ldp	q4, q5, [sp, #160]
	ldp	q6, q7, [sp, #192]
	ldp	x29, x30, [sp], #224
	br	x16
	.size	objc_msgSend, .-objc_msgSend
#else
#error "no objc_msgSend trampoline for this architecture"
#endif
	.section .note.GNU-stack,"",%progbits
