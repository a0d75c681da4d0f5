"""W1 steps for pyinfra: the same ten sequential `/bin/true` commands as w1-steps.yaml."""

from pyinfra.operations import server

server.shell(name="step 1", commands=["/bin/true"])
server.shell(name="step 2", commands=["/bin/true"])
server.shell(name="step 3", commands=["/bin/true"])
server.shell(name="step 4", commands=["/bin/true"])
server.shell(name="step 5", commands=["/bin/true"])
server.shell(name="step 6", commands=["/bin/true"])
server.shell(name="step 7", commands=["/bin/true"])
server.shell(name="step 8", commands=["/bin/true"])
server.shell(name="step 9", commands=["/bin/true"])
server.shell(name="step 10", commands=["/bin/true"])
