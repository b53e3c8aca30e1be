module github.com/heraldhq/herald/services/matcher

go 1.26
