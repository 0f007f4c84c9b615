package relay

// links are an element's neighbours in a loop's intrusive list: a flow or
// a connect is on at most one list, so it carries its own links and the
// list allocates nothing.
type links[T any] struct{ prev, next *T }

// listed is a pointer to an element that carries links.
type listed[T any] interface {
	*T
	linksOf() *links[T]
}

// list is a doubly linked list of elements that carry their links (the
// loop's flows, its connects in progress).
type list[T any, P listed[T]] struct{ head *T }

func (li *list[T, P]) push(x *T) {
	P(x).linksOf().next = li.head
	if li.head != nil {
		P(li.head).linksOf().prev = x
	}
	li.head = x
}

func (li *list[T, P]) remove(x *T) {
	k := P(x).linksOf()
	if k.prev != nil {
		P(k.prev).linksOf().next = k.next
	} else if li.head == x {
		li.head = k.next
	}
	if k.next != nil {
		P(k.next).linksOf().prev = k.prev
	}
	*k = links[T]{}
}

// each calls fn for every element; fn may remove the element it gets.
func (li *list[T, P]) each(fn func(*T)) {
	for x := li.head; x != nil; {
		next := P(x).linksOf().next
		fn(x)
		x = next
	}
}
