"""Why translated code returns to the monitor: the exit codes blocks and the dispatcher return.

    CONTINUE  (block -> dispatcher only) state.eip holds the next block's address
    MISS      no translation for state.eip in the jump cache: Python translates
    BUDGET    state.icount reached state.icount_limit (checked at block entry)
    STEP      the monitor must run the instruction at state.eip in the interpreter:
              a callout, an undefined instruction, a fault, an access outside RAM
              or a store to a page holding translated code (guest state is exactly
              as before that instruction)

Example:
    if code == STEP: interp.run(machine, 1)
"""

CONTINUE, MISS, BUDGET, STEP = 0, 1, 2, 3
NAMES = {CONTINUE: "continue", MISS: "miss", BUDGET: "budget", STEP: "step"}
