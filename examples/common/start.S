/* Multiboot v1 entry for the example guests: header, a 64 KiB stack, kmain(magic, info),
   then exit through isa-debug-exit with kmain's status, and cli;hlt if that port is absent. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x3                      /* page-align modules, want memory info */
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        mov     $stack_top, %esp
        push    %ebx                            /* multiboot information structure */
        push    %eax                            /* 0x2BADB002 */
        call    kmain
        push    %eax
        call    exit_guest
1:      cli
        hlt
        jmp     1b

        .bss
        .align 16
        .space  65536
stack_top:
        .section .note.GNU-stack, "", @progbits
