module github.com/heraldhq/herald/services/dispatcher

go 1.26
