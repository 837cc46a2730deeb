/*
 * fp_step.S: the part of tests/cases/fpu-integrity that must not be C.
 * Between loading a register image and storing it back no compiler-made
 * code may run, so the syscall, page fault or busy loop under test happens
 * here, with every FPU/vector register the CPU has holding the image.
 *
 *   long fp_step(const struct fpimg *in, struct fpimg *out, int level,
 *                long op, long nr, long a0, long a1, long a2);
 *
 * level 0: x87, MXCSR, xmm0-15; 1: ymm0-15 as well; 2: zmm0-31 and k0-7.
 * op 0: syscall nr(a0, a1, a2), its result returned; op 1: store a byte
 * at a0 (a page fault on a fresh page); op 2: spin a0 (>= 1) iterations.
 * Image layout (struct fpimg in fpu_integrity.c): 8 doubles at 0, MXCSR
 * at 64, x87 control word at 68, k0-7 as 8-byte slots at 128, the vector
 * registers as 64-byte slots from 256. The caller's MXCSR and control
 * word, which the ABI says are preserved, are put back before returning.
 */
	.text
	.globl	fp_step
	.type	fp_step, @function
fp_step:
	push	%rbp
	mov	%rsp, %rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	sub	$24, %rsp
	stmxcsr	0(%rsp)
	fnstcw	4(%rsp)
	mov	%rdi, %r12
	mov	%rsi, %r13
	mov	%edx, %r14d
	mov	%rcx, %r15
	mov	%r8, %rbx
	mov	%r9, 8(%rsp)

	fldcw	68(%r12)
	ldmxcsr	64(%r12)
	fldl	0(%r12)
	fldl	8(%r12)
	fldl	16(%r12)
	fldl	24(%r12)
	fldl	32(%r12)
	fldl	40(%r12)
	fldl	48(%r12)
	fldl	56(%r12)
	cmp	$1, %r14d
	jae	1f
	movdqu	256(%r12), %xmm0
	movdqu	320(%r12), %xmm1
	movdqu	384(%r12), %xmm2
	movdqu	448(%r12), %xmm3
	movdqu	512(%r12), %xmm4
	movdqu	576(%r12), %xmm5
	movdqu	640(%r12), %xmm6
	movdqu	704(%r12), %xmm7
	movdqu	768(%r12), %xmm8
	movdqu	832(%r12), %xmm9
	movdqu	896(%r12), %xmm10
	movdqu	960(%r12), %xmm11
	movdqu	1024(%r12), %xmm12
	movdqu	1088(%r12), %xmm13
	movdqu	1152(%r12), %xmm14
	movdqu	1216(%r12), %xmm15
	jmp	3f
1:	cmp	$2, %r14d
	jae	2f
	vmovdqu	256(%r12), %ymm0
	vmovdqu	320(%r12), %ymm1
	vmovdqu	384(%r12), %ymm2
	vmovdqu	448(%r12), %ymm3
	vmovdqu	512(%r12), %ymm4
	vmovdqu	576(%r12), %ymm5
	vmovdqu	640(%r12), %ymm6
	vmovdqu	704(%r12), %ymm7
	vmovdqu	768(%r12), %ymm8
	vmovdqu	832(%r12), %ymm9
	vmovdqu	896(%r12), %ymm10
	vmovdqu	960(%r12), %ymm11
	vmovdqu	1024(%r12), %ymm12
	vmovdqu	1088(%r12), %ymm13
	vmovdqu	1152(%r12), %ymm14
	vmovdqu	1216(%r12), %ymm15
	jmp	3f
2:
	vmovdqu64	256(%r12), %zmm0
	vmovdqu64	320(%r12), %zmm1
	vmovdqu64	384(%r12), %zmm2
	vmovdqu64	448(%r12), %zmm3
	vmovdqu64	512(%r12), %zmm4
	vmovdqu64	576(%r12), %zmm5
	vmovdqu64	640(%r12), %zmm6
	vmovdqu64	704(%r12), %zmm7
	vmovdqu64	768(%r12), %zmm8
	vmovdqu64	832(%r12), %zmm9
	vmovdqu64	896(%r12), %zmm10
	vmovdqu64	960(%r12), %zmm11
	vmovdqu64	1024(%r12), %zmm12
	vmovdqu64	1088(%r12), %zmm13
	vmovdqu64	1152(%r12), %zmm14
	vmovdqu64	1216(%r12), %zmm15
	vmovdqu64	1280(%r12), %zmm16
	vmovdqu64	1344(%r12), %zmm17
	vmovdqu64	1408(%r12), %zmm18
	vmovdqu64	1472(%r12), %zmm19
	vmovdqu64	1536(%r12), %zmm20
	vmovdqu64	1600(%r12), %zmm21
	vmovdqu64	1664(%r12), %zmm22
	vmovdqu64	1728(%r12), %zmm23
	vmovdqu64	1792(%r12), %zmm24
	vmovdqu64	1856(%r12), %zmm25
	vmovdqu64	1920(%r12), %zmm26
	vmovdqu64	1984(%r12), %zmm27
	vmovdqu64	2048(%r12), %zmm28
	vmovdqu64	2112(%r12), %zmm29
	vmovdqu64	2176(%r12), %zmm30
	vmovdqu64	2240(%r12), %zmm31
	kmovw	128(%r12), %k0
	kmovw	136(%r12), %k1
	kmovw	144(%r12), %k2
	kmovw	152(%r12), %k3
	kmovw	160(%r12), %k4
	kmovw	168(%r12), %k5
	kmovw	176(%r12), %k6
	kmovw	184(%r12), %k7
3:
	cmp	$0, %r15
	jne	4f
	mov	%rbx, %rax
	mov	8(%rsp), %rdi
	mov	16(%rbp), %rsi
	mov	24(%rbp), %rdx
	xor	%r10, %r10
	syscall
	jmp	6f
4:	cmp	$1, %r15
	jne	5f
	mov	8(%rsp), %rdi
	movb	$1, (%rdi)
	xor	%eax, %eax
	jmp	6f
5:	mov	8(%rsp), %rcx
	xor	%eax, %eax
7:	dec	%rcx
	jnz	7b
6:	mov	%rax, 16(%rsp)

	cmp	$1, %r14d
	jae	1f
	movdqu	%xmm0, 256(%r13)
	movdqu	%xmm1, 320(%r13)
	movdqu	%xmm2, 384(%r13)
	movdqu	%xmm3, 448(%r13)
	movdqu	%xmm4, 512(%r13)
	movdqu	%xmm5, 576(%r13)
	movdqu	%xmm6, 640(%r13)
	movdqu	%xmm7, 704(%r13)
	movdqu	%xmm8, 768(%r13)
	movdqu	%xmm9, 832(%r13)
	movdqu	%xmm10, 896(%r13)
	movdqu	%xmm11, 960(%r13)
	movdqu	%xmm12, 1024(%r13)
	movdqu	%xmm13, 1088(%r13)
	movdqu	%xmm14, 1152(%r13)
	movdqu	%xmm15, 1216(%r13)
	jmp	3f
1:	cmp	$2, %r14d
	jae	2f
	vmovdqu	%ymm0, 256(%r13)
	vmovdqu	%ymm1, 320(%r13)
	vmovdqu	%ymm2, 384(%r13)
	vmovdqu	%ymm3, 448(%r13)
	vmovdqu	%ymm4, 512(%r13)
	vmovdqu	%ymm5, 576(%r13)
	vmovdqu	%ymm6, 640(%r13)
	vmovdqu	%ymm7, 704(%r13)
	vmovdqu	%ymm8, 768(%r13)
	vmovdqu	%ymm9, 832(%r13)
	vmovdqu	%ymm10, 896(%r13)
	vmovdqu	%ymm11, 960(%r13)
	vmovdqu	%ymm12, 1024(%r13)
	vmovdqu	%ymm13, 1088(%r13)
	vmovdqu	%ymm14, 1152(%r13)
	vmovdqu	%ymm15, 1216(%r13)
	vzeroupper
	jmp	3f
2:
	vmovdqu64	%zmm0, 256(%r13)
	vmovdqu64	%zmm1, 320(%r13)
	vmovdqu64	%zmm2, 384(%r13)
	vmovdqu64	%zmm3, 448(%r13)
	vmovdqu64	%zmm4, 512(%r13)
	vmovdqu64	%zmm5, 576(%r13)
	vmovdqu64	%zmm6, 640(%r13)
	vmovdqu64	%zmm7, 704(%r13)
	vmovdqu64	%zmm8, 768(%r13)
	vmovdqu64	%zmm9, 832(%r13)
	vmovdqu64	%zmm10, 896(%r13)
	vmovdqu64	%zmm11, 960(%r13)
	vmovdqu64	%zmm12, 1024(%r13)
	vmovdqu64	%zmm13, 1088(%r13)
	vmovdqu64	%zmm14, 1152(%r13)
	vmovdqu64	%zmm15, 1216(%r13)
	vmovdqu64	%zmm16, 1280(%r13)
	vmovdqu64	%zmm17, 1344(%r13)
	vmovdqu64	%zmm18, 1408(%r13)
	vmovdqu64	%zmm19, 1472(%r13)
	vmovdqu64	%zmm20, 1536(%r13)
	vmovdqu64	%zmm21, 1600(%r13)
	vmovdqu64	%zmm22, 1664(%r13)
	vmovdqu64	%zmm23, 1728(%r13)
	vmovdqu64	%zmm24, 1792(%r13)
	vmovdqu64	%zmm25, 1856(%r13)
	vmovdqu64	%zmm26, 1920(%r13)
	vmovdqu64	%zmm27, 1984(%r13)
	vmovdqu64	%zmm28, 2048(%r13)
	vmovdqu64	%zmm29, 2112(%r13)
	vmovdqu64	%zmm30, 2176(%r13)
	vmovdqu64	%zmm31, 2240(%r13)
	kmovw	%k0, 128(%r13)
	kmovw	%k1, 136(%r13)
	kmovw	%k2, 144(%r13)
	kmovw	%k3, 152(%r13)
	kmovw	%k4, 160(%r13)
	kmovw	%k5, 168(%r13)
	kmovw	%k6, 176(%r13)
	kmovw	%k7, 184(%r13)
	vzeroupper
3:
	fstpl	56(%r13)
	fstpl	48(%r13)
	fstpl	40(%r13)
	fstpl	32(%r13)
	fstpl	24(%r13)
	fstpl	16(%r13)
	fstpl	8(%r13)
	fstpl	0(%r13)
	stmxcsr	64(%r13)
	fnstcw	68(%r13)
	ldmxcsr	0(%rsp)
	fldcw	4(%rsp)
	mov	16(%rsp), %rax
	add	$24, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret
	.size	fp_step, .-fp_step
	.section .note.GNU-stack, "", @progbits
