module containermaker.test/apiprobe

go 1.26
