"""Why translated code returns to the monitor: the exit codes blocks and the dispatcher return.

    CONTINUE  (block -> dispatcher only) state.eip holds the next block's address
    MISS      no translation for state.eip in the jump cache: Python translates
    BUDGET    the block's instructions do not all fit before state.icount_limit (checked at
              block entry, and at each pass of a tier-2 loop): the monitor interprets what is
              left of the budget, so runs stop at exactly the instruction asked for
    STEP      the monitor must run the instruction at state.eip in the interpreter:
              a callout, an undefined instruction, a fault, an access outside RAM
              or a store to a page holding translated code (guest state is exactly
              as before that instruction)

Example:
    if code == STEP: interp.run(machine, 1)
"""

CONTINUE, MISS, BUDGET, STEP = 0, 1, 2, 3
NAMES = {CONTINUE: "continue", MISS: "miss", BUDGET: "budget", STEP: "step"}
