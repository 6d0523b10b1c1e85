/* The kernel's entry points from the CPU: interrupt and exception stubs (all building one
   trap frame for trap() in kernel.c), the sysenter entry, and the kernel-stack switch. */
        .set KERNEL_DS, 0x10

/* One stub per vector 0-47: the CPU pushes an error code only for 8, 10-14 and 17; the
   others push a 0 so every frame has the same layout (struct frame in kernel.c). */
        .macro stub n
isr\n:
        .if (\n <> 8) && ((\n < 10) || (\n > 14)) && (\n <> 17)
        pushl   $0
        .endif
        pushl   $\n
        jmp     trap_common
        .endm

        .text
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,128
        stub \n
        .endr

trap_common:
        pushl   %ds
        pushl   %es
        pusha
        movl    $KERNEL_DS, %eax
        movl    %eax, %ds
        movl    %eax, %es
        pushl   %esp                    /* struct frame * */
        call    trap
        addl    $4, %esp
        .globl  trap_return             /* a new task's kernel stack starts here (kernel.c) */
trap_return:
        popa
        popl    %es
        popl    %ds
        addl    $8, %esp                /* vector, error code */
        iret

/* sysenter: CS, SS, ESP and EIP come from the SYSENTER MSRs and IF is clear; the caller's
   return EIP is in EDX and its ESP in ECX (user.c).  syscall(nr, a1, a2) returns in EAX. */
        .globl  sysenter_entry
sysenter_entry:
        pushl   %ecx
        pushl   %edx
        pushl   %ds
        pushl   %es
        movl    $KERNEL_DS, %ecx
        movl    %ecx, %ds
        movl    %ecx, %es
        pushl   %esi
        pushl   %ebx
        pushl   %eax
        call    sysenter_call
        addl    $12, %esp
        popl    %es
        popl    %ds
        popl    %edx
        popl    %ecx
        sti                             /* sysexit leaves EFLAGS alone; sti's shadow covers it */
        sysexit

/* switch_to(u32 *save_esp, u32 next_esp): park the callee-saved registers on this kernel
   stack, save its pointer, and resume the one that was parked at next_esp. */
        .globl  switch_to
switch_to:
        movl    4(%esp), %eax
        movl    8(%esp), %edx
        pushl   %ebp
        pushl   %ebx
        pushl   %esi
        pushl   %edi
        movl    %esp, (%eax)
        movl    %edx, %esp
        popl    %edi
        popl    %esi
        popl    %ebx
        popl    %ebp
        ret

        .section .rodata
        .globl  isr_table               /* vectors 0-47, then 0x80 */
isr_table:
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,128
        .long   isr\n
        .endr
        .section .note.GNU-stack, "", @progbits
