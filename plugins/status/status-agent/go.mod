module github.com/container-maker/status-agent

go 1.26.8
