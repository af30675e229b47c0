"""The agent: the DQN family's maths, networks and learner, with no environment and no logging.

Import direction inside: :mod:`.targets` (pure TD maths) and :mod:`.schedules`,
:mod:`.policy` <- :mod:`.layers` <- :mod:`.torsos` <- :mod:`.networks` <-
:mod:`.optim`, :mod:`.device` <- :mod:`.learner`.
"""
